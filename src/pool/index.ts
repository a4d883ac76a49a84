export { createWorkerPool } from './pool.js';
export type { WorkerPool, PoolStats, ParseOptions, ParsedRequest, ConvertOptions, Percentiles, PoolOptions } from './pool.js';
export { DEFAULT_JSON_OFFLOAD_BYTES, THRESHOLD_FILE, resolveJsonOffloadBytes, type ThresholdRecord } from './threshold.js';
