/**
 * GET /requests on a large request log: builds an N-row SQLite file (default 2,000,000; `--rows 10000000`) in a temp
 * folder with the request log's own schema and indexes, then times filtered pages (first page, a page deep in by
 * cursor) and a summary through RequestQuery, the code the admin route runs. Prints ms per query (median of 20).
 *
 *   node dist/bench/request-log-query.js [--rows N] [--keep FILE]
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyMigrations } from '../src/store/database.js';
import { RequestQuery, type RequestFilter } from '../src/store/request-query.js';
import { USAGE_MIGRATIONS } from '../src/store/usage-log.js';

const args = process.argv.slice(2);
const rows = Number(args[args.indexOf('--rows') + 1] ?? 0) || 2_000_000;
const dir = mkdtempSync(join(tmpdir(), 'tg-reqlog-'));
const file = join(dir, 'log.db');
const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = OFF');
db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
applyMigrations(db, USAGE_MIGRATIONS);

const USERS = 1000;
const MODELS = ['gpt-4o', 'gpt-4o-mini', 'claude-3-5-sonnet', 'o1', 'llama-3'];
const start = Date.UTC(2026, 0, 1);
const insert = db.prepare(`INSERT INTO request_log (ts, service, user, channel, endpoint, model, stream, status,
  prompt_tokens, completion_tokens, total_tokens, latency_ms, ttfb_ms, attempts, error)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
let t0 = performance.now();
const fill = db.transaction((from: number, to: number) => {
  for (let i = from; i < to; i++) {
    const status = i % 50 === 0 ? 502 : 200;
    insert.run(start + i * 250, `svc-${i % 4}`, `user-${(i * 7919) % USERS}`, `ch-${i % 8}`, '/v1/chat/completions',
      MODELS[i % MODELS.length], i % 3 === 0 ? 1 : 0, status, 100, 50, 150, 800 + (i % 400), 120, 1,
      status === 200 ? null : 'upstream');
  }
});
for (let i = 0; i < rows; i += 100_000) fill(i, Math.min(rows, i + 100_000));
const fillMs = performance.now() - t0;
t0 = performance.now();
const query = new RequestQuery(db); // adds the filter indexes (the migration a running tidegate applies once)
const indexMs = performance.now() - t0;

function median(fn: () => unknown, n = 20): number {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[n >> 1]! * 100) / 100;
}

function deepCursor(filter: RequestFilter, pages: number): { ts: number; id: number } | null {
  let cursor: { ts: number; id: number } | null = null;
  for (let i = 0; i < pages; i++) {
    const page = query.page(filter, 100, cursor);
    if (page.items.length === 0) break;
    const last = page.items[page.items.length - 1]!;
    cursor = { ts: Date.parse(last.ts), id: last.id };
  }
  return cursor;
}

const cases: [string, RequestFilter][] = [
  ['no filter', {}],
  ['user', { user: 'user-17' }],
  ['model', { model: 'o1' }],
  ['status 502', { status: 502 }],
  ['service + since', { service: 'svc-1', since: start + Math.floor(rows / 2) * 250 }],
  ['user + model', { user: 'user-17', model: 'gpt-4o' }],
  ['channel + window', { channel: 'ch-3', since: start + 1000 * 250, until: start + 200_000 * 250 }],
];
console.log(`rows ${rows.toLocaleString('en')}; fill ${Math.round(fillMs)} ms; ` +
  `filter indexes ${Math.round(indexMs)} ms; shared 2-core machine`);
for (const [name, filter] of cases) {
  const first = median(() => query.page(filter, 100, null));
  const cursor = deepCursor(filter, 50);
  const deep = median(() => query.page(filter, 100, cursor));
  const times = `first page ${String(first).padStart(7)} ms   page 51 ${String(deep).padStart(7)} ms`;
  console.log(`${name.padEnd(18)} ${times}   plan: ${query.plan(filter)}`);
}
const summaryDay = median(() => query.summary('model', { since: start + (rows - 345_600) * 250 }), 3);
console.log(`summary by model over the last day (345,600 rows): ${summaryDay} ms`);
db.close();
if (args.includes('--keep')) console.log(`kept ${file}`);
else rmSync(dir, { recursive: true, force: true });
