import { isIP } from 'node:net';
import type { GeoConfig } from '../config/types.js';
import type { GeoCacheStats, GeoResolver } from '../contracts/geo-resolver.js';
import type { Logger } from '../log.js';
import type { WorkerPool } from '../pool/pool.js';
import { geoLookup, geoOpen } from './offload.js';
import type { GeoSpec } from './database.js';
import { LruCache } from '../util/lru-cache.js';

/** Misses collected in one event-loop turn go to the pool together; a batch never grows past this. */
export const GEO_MAX_BATCH = 512;

interface Pending {
  readonly promise: Promise<string | null>;
  resolve: (cc: string | null) => void;
}

/** `stamp`: the files' fingerprint (geoFilesStamp); a resolver with a new one reads the files afresh. */
export function createGeoResolver(config: GeoConfig, pool: WorkerPool, log: Logger, stamp = ''): GeoResolver {
  return new PooledGeoResolver(config, pool, log, stamp);
}

class PooledGeoResolver implements GeoResolver {
  private readonly spec: GeoSpec;
  private readonly cache: LruCache<string | null>;
  private pending = new Map<string, Pending>();
  private flushScheduled = false;
  private batches = 0;
  private failedBatches = 0;
  private readonly flushBound: () => void;

  constructor(config: GeoConfig, private readonly pool: WorkerPool, private readonly log: Logger, stamp: string) {
    const lists = config.lists.map((l) => ({ country: l.country, file: l.file }));
    this.spec = { database: config.database, lists, stamp };
    this.cache = new LruCache<string | null>(config.cacheSize);
    this.flushBound = this.flush.bind(this);
  }

  async ready(): Promise<void> {
    const description = await geoOpen(this.pool, this.spec);
    this.log.info({ database: description }, 'GeoIP database ready');
  }

  country(ip: string): string | null | Promise<string | null> {
    const cached = this.cache.get(ip);
    if (cached !== undefined) return cached;
    if (isIP(ip) === 0) return null;
    const waiting = this.pending.get(ip);
    if (waiting) return waiting.promise;
    let resolve!: (cc: string | null) => void;
    const promise = new Promise<string | null>(function capture(r) { resolve = r; });
    this.pending.set(ip, { promise, resolve });
    if (this.pending.size >= GEO_MAX_BATCH) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushBound);
    }
    return promise;
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const ips = Array.from(batch.keys());
    this.batches++;
    const cache = this.cache;
    const self = this;
    geoLookup(this.pool, this.spec, ips).then(
      function geoBatchDone(countries) {
        for (let i = 0; i < ips.length; i++) {
          const cc = countries[i] ?? null;
          cache.set(ips[i]!, cc);
          batch.get(ips[i]!)!.resolve(cc);
        }
      },
      function geoBatchFailed(err: unknown) {
        // Not cached: the next lookup tries again (the queue may have been full only for a moment).
        self.failedBatches++;
        self.log.warn({ err, ips: ips.length }, 'GeoIP lookup failed; answering null');
        for (const p of batch.values()) p.resolve(null);
      },
    );
  }

  stats(): GeoCacheStats {
    const c = this.cache;
    const total = c.hits + c.misses;
    return {
      size: c.size, max: c.max, hits: c.hits, misses: c.misses, hitRate: total === 0 ? 0 : c.hits / total,
      batches: this.batches, failedBatches: this.failedBatches,
    };
  }

  clear(): void {
    this.cache.clear();
  }
}
