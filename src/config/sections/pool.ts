import { availableParallelism } from 'node:os';
import { DEFAULTS } from '../defaults.js';
import type { PoolConfig } from '../types.js';
import type { Reader } from '../validator.js';

/** `pool:`: the worker pool's size, queue and offload threshold; `auto` values are resolved here. */
export function readPool(r: Reader, value: unknown): PoolConfig {
  const o = r.object('pool', value, ['threads', 'jsonOffloadBytes', 'maxQueue', 'idleTimeout']);
  const d = DEFAULTS.pool;
  const threads = o.threads === 'auto' || o.threads === undefined
    ? autoThreads()
    : r.integer('pool.threads', o.threads, 1, 1, 256);
  const jsonOffloadBytes = o.jsonOffloadBytes === 'auto' || o.jsonOffloadBytes === undefined
    ? d.jsonOffloadBytes
    : r.size('pool.jsonOffloadBytes', o.jsonOffloadBytes, 0);
  return {
    threads,
    jsonOffloadBytes,
    maxQueue: o.maxQueue === 'auto' || o.maxQueue === undefined
      ? threads * d.queuePerThread
      : r.integer('pool.maxQueue', o.maxQueue, 1, 1),
    idleTimeoutMs: r.duration('pool.idleTimeout', o.idleTimeout, d.idleTimeoutMs),
  };
}

/** `threads: auto`: one per core, at least one, at most the table's cap. */
export function autoThreads(): number {
  return Math.max(1, Math.min(availableParallelism(), DEFAULTS.pool.autoThreadsMax));
}
