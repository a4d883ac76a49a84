/** The main thread's side of the GeoIP pool tasks (tasks.ts): the database is opened and read in the pool. */
import type { WorkerPool } from '../pool/pool.js';
import { defineTask } from '../pool/task.js';
import type { GeoSpec } from './database.js';

export interface LookupInput {
  readonly spec: GeoSpec;
  readonly ips: readonly string[];
}

const TASKS = new URL('./tasks.js', import.meta.url);
export const GEO_OPEN_TASK = defineTask<GeoSpec, string>(TASKS, 'open');
export const GEO_LOOKUP_TASK = defineTask<LookupInput, (string | null)[]>(TASKS, 'lookup');

/** Opens (and caches in the worker) the database; rejects with GeoDatabaseError naming the file. */
export function geoOpen(pool: WorkerPool, spec: GeoSpec): Promise<string> {
  return pool.run(GEO_OPEN_TASK, spec);
}

/** Countries for a batch of IPs, in order. */
export function geoLookup(pool: WorkerPool, spec: GeoSpec, ips: readonly string[]): Promise<(string | null)[]> {
  return pool.run(GEO_LOOKUP_TASK, { spec, ips });
}
