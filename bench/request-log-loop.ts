/**
 * Event-loop delay while the admin API answers a wide `GET /usage/summary`: the same summary run on the main
 * connection (how the route ran before) and through RequestReader (its own thread), interleaved, on a request-log
 * file built by `node dist/bench/request-log-query.js --rows N --keep` (or N rows built here, default 1,000,000).
 * A 5 ms heartbeat timer runs meanwhile; prints the summary's wall time, the longest event-loop stall and the
 * heartbeats that fired, per round.
 *
 *   node dist/bench/request-log-loop.js [--file FILE | --rows N] [--rounds 3] [--days 3 (0: the whole log)]
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createLogger } from '../src/log.js';
import { applyMigrations } from '../src/store/database.js';
import { RequestQuery, type RequestFilter } from '../src/store/request-query.js';
import { RequestReader } from '../src/store/request-reader.js';
import { USAGE_MIGRATIONS } from '../src/store/usage-log.js';

const args = process.argv.slice(2);
const at = (flag: string): string | undefined => {
  const i = args.indexOf(flag);
  return i === -1 ? undefined : args[i + 1];
};
const rounds = Number(at('--rounds') ?? 3);
const days = Number(at('--days') ?? 3);
let dir: string | null = null;
let file = at('--file');
if (file === undefined) {
  dir = mkdtempSync(join(tmpdir(), 'tg-reqloop-'));
  file = join(dir, 'log.db');
  build(file, Number(at('--rows') ?? 1_000_000));
}
const db = new Database(file);
db.pragma('journal_mode = WAL');
db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
const inline = new RequestQuery(db);
const reader = new RequestReader(db, createLogger('silent'));
const newest = (db.prepare('SELECT MAX(ts) AS ts FROM request_log').get() as { ts: number }).ts;
// --days 0: no window, the whole table.
const filter: RequestFilter = days > 0 ? { since: newest - days * 86_400_000 } : {};
const counted = db.prepare('SELECT COUNT(*) AS n FROM request_log WHERE ts >= ?').get(filter.since ?? 0);
const rows = (counted as { n: number }).n;

async function observe(run: () => Promise<unknown>): Promise<{ wall: number; stall: number; beats: number }> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  let beats = 0;
  const beat = setInterval(() => beats++, 5);
  h.enable();
  // Let the monitor's first sample land before the query starts.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const t = performance.now();
  await run();
  const wall = performance.now() - t;
  await new Promise((resolve) => setTimeout(resolve, 20));
  h.disable();
  clearInterval(beat);
  return { wall: Math.round(wall), stall: Math.round(h.max / 1e6), beats };
}

const span = days > 0 ? `the last ${days} days` : 'the whole log';
console.log(`summary by model over ${span} (${rows.toLocaleString('en')} rows); shared 2-core machine`);
for (let round = 1; round <= rounds; round++) {
  const before = await observe(async () => inline.summary('model', filter));
  const after = await observe(() => reader.summary('model', filter));
  console.log(`round ${round}: main connection ${before.wall} ms, longest stall ${before.stall} ms, ` +
    `${before.beats} heartbeats | reader thread ${after.wall} ms, longest stall ${after.stall} ms, ` +
    `${after.beats} heartbeats`);
}
await reader.close();
db.close();
if (dir !== null) rmSync(dir, { recursive: true, force: true });

function build(path: string, n: number): void {
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
