export { createWorkerPool } from './pool.js';
export type { WorkerPool, PoolStats, Percentiles, PoolOptions, RunOptions } from './pool.js';
export { defineTask, failed, succeeded, succeededMoving, type Task, type TaskOutcome } from './task.js';
export { DEFAULT_JSON_OFFLOAD_BYTES, resolveJsonOffloadBytes, type OffloadThreshold } from './threshold.js';
