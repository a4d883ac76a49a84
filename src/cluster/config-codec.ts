import { availableParallelism } from 'node:os';
import type { Config } from '../config/schema.js';
import { deepFreeze } from '../config/validator.js';

const URL_KEY = '$url';

/**
 * A validated config as IPC can carry it: v8 serialization keeps Infinity and plain data but turns URL objects
 * into `{}`, so they travel as `{ $url: href }` and come back as URLs. Validated once by the primary, never again.
 */
export function encodeConfig(config: Config): unknown {
  return encode(config);
}

export function decodeConfig(value: unknown): Config {
  return deepFreeze(decode(value) as Config);
}

function encode(value: unknown): unknown {
  if (value instanceof URL) return { [URL_KEY]: value.href };
  if (Array.isArray(value)) return value.map(encode);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = encode(v);
  return out;
}

function decode(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decode);
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  if (typeof record[URL_KEY] === 'string' && Object.keys(record).length === 1) return new URL(record[URL_KEY]);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record)) out[k] = decode(v);
  return out;
}

/**
 * The config a worker runs: the services and what they need, without what only the primary owns (admin API,
 * SQLite, Redis, reports, the file watch). A pool sized `auto` gets its share of the cores.
 */
export function workerConfig(config: Config, workers: number, autoPoolThreads: number): Config {
  const cores = Math.max(1, availableParallelism());
  const pool = config.pool.threads === autoPoolThreads
    ? { ...config.pool, threads: Math.max(1, Math.floor(cores / workers)) }
    : config.pool;
  return {
    ...config,
    admin: { ...config.admin, listen: null },
    store: { ...config.store, sqlite: null, redis: null },
    report: null,
    reload: { watch: false },
    pool,
    workers: 1,
  };
}
