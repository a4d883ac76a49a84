import type { GeoSpec } from './database.js';

/** What the resolver needs from the worker pool (which implements it): the database opened and read off-thread. */
export interface GeoLookupPool {
  /** Opens the database in every worker; resolves with its description. */
  geoOpen(spec: GeoSpec): Promise<string>;
  /** Country codes of `ips`, in order (null where the database has none). */
  geoLookup(spec: GeoSpec, ips: readonly string[]): Promise<(string | null)[]>;
}
