export interface GeoCacheStats {
  readonly size: number;
  readonly max: number;
  readonly hits: number;
  readonly misses: number;
  /** hits / (hits + misses), 0 before the first lookup. */
  readonly hitRate: number;
  readonly batches: number;
  readonly failedBatches: number;
}

/**
 * IP → country code. `country()` answers a cached address synchronously (string or null); an uncached one
 * returns a Promise, and uncached addresses asked for in the same turn share one pool task. Anything that is not an
 * IP literal is null at once. After `ready()` resolved, a failing lookup (file removed later…) logs and answers
 * null: it never throws into a connection.
 */
export interface GeoResolver {
  /** Opens the database in the pool; rejects with GeoDatabaseError naming the file. Call at start. */
  ready(): Promise<void>;
  country(ip: string): string | null | Promise<string | null>;
  stats(): GeoCacheStats;
  /** Drops the cache (after a reload of the database files). */
  clear(): void;
}
