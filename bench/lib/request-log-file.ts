/** A synthetic request-log file for the store benches (request-log-loop.ts, store-threads.ts). */
import Database from 'better-sqlite3';
import { applyMigrations } from '../../src/store/database.js';
import type { RequestFilter } from '../../src/store/request-query.js';
import { USAGE_MIGRATIONS } from '../../src/store/usage-log.js';

/** Writes `n` rows (one every 250 ms from 2026-01-01, 4 services, 1,000 users, 8 channels, 5 models) to `path`. */
export function buildRequestLog(path: string, n: number): void {
  const w = new Database(path);
  w.pragma('journal_mode = WAL');
  w.pragma('synchronous = OFF');
  w.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
  applyMigrations(w, USAGE_MIGRATIONS);
  const insert = w.prepare(`INSERT INTO request_log (ts, service, user, channel, endpoint, model, stream, status,
    prompt_tokens, completion_tokens, total_tokens, latency_ms, ttfb_ms, attempts, error)
    VALUES (?, ?, ?, ?, '/v1/chat/completions', ?, 0, 200, 100, 50, 150, 900, 120, 1, NULL)`);
  const models = ['gpt-4o', 'gpt-4o-mini', 'claude-3-5-sonnet', 'o1', 'llama-3'];
  const start = Date.UTC(2026, 0, 1);
  const fill = w.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      insert.run(start + i * 250, `svc-${i % 4}`, `user-${(i * 7919) % 1000}`, `ch-${i % 8}`, models[i % 5]);
    }
  });
  for (let i = 0; i < n; i += 100_000) fill(i, Math.min(n, i + 100_000));
  w.close();
}

/** Opens a request-log file as tidegate does (WAL; the migrations table present). */
export function openRequestLog(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
  return db;
}

/** The newest row's time, and a filter for the `days` before it (0: no window, the whole table). */
export function lastDays(db: Database.Database, days: number): { newest: number; filter: RequestFilter } {
  const newest = (db.prepare('SELECT MAX(ts) AS ts FROM request_log').get() as { ts: number }).ts;
  return { newest, filter: days > 0 ? { since: newest - days * 86_400_000 } : {} };
}
