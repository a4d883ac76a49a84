import { DEFAULTS } from '../defaults.js';
import type { StoreConfig } from '../types.js';
import type { Reader } from '../validator.js';

/** `store:`: SQLite (or off), Redis and how counters are synced to them. */
export function readStore(r: Reader, value: unknown): StoreConfig {
  const o = r.object('store', value, ['sqlite', 'redis', 'sync']);
  const sync = r.object('store.sync', o.sync, ['interval', 'batchSize', 'maxPending']);
  let sqlite: string | null = DEFAULTS.store.sqlite;
  if (o.sqlite === false || o.sqlite === 'off' || o.sqlite === '') sqlite = null;
  else if (o.sqlite !== undefined) sqlite = r.string('store.sqlite', o.sqlite, sqlite);
  const redis = r.string('store.redis', o.redis, DEFAULTS.store.redis);
  if (redis) r.url('store.redis', redis, ['redis', 'rediss']);
  const d = DEFAULTS.store.sync;
  return {
    sqlite,
    redis: redis === '' ? null : redis,
    sync: {
      intervalMs: r.duration('store.sync.interval', sync.interval, d.intervalMs),
      batchSize: r.integer('store.sync.batchSize', sync.batchSize, d.batchSize, 1, 1_000_000),
      maxPending: r.integer('store.sync.maxPending', sync.maxPending, d.maxPending, 1, 10_000_000),
    },
  };
}
