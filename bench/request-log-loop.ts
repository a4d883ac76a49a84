/**
 * Event-loop delay while the admin API answers a wide `GET /usage/summary`: the same summary run on the main
 * connection (how the route ran before) and through RequestReader (its own thread), interleaved, on a request-log
 * file built by `node dist/bench/request-log-query.js --rows N --keep` (or N rows built here, default 1,000,000).
 * A 5 ms heartbeat timer runs meanwhile; prints the summary's wall time, the longest event-loop stall and the
 * heartbeats that fired, per round.
 *
 *   node dist/bench/request-log-loop.js [--file FILE | --rows N] [--rounds 3] [--days 3 (0: the whole log)]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createLogger } from '../src/log.js';
import { RequestQuery } from '../src/store/request-query.js';
import { RequestReader } from '../src/store/request-reader.js';
import { flagValue } from './lib/args.js';
import { buildRequestLog, lastDays, openRequestLog } from './lib/request-log-file.js';

const args = process.argv.slice(2);
const at = (flag: string): string | undefined => flagValue(args, flag);
const rounds = Number(at('--rounds') ?? 3);
const days = Number(at('--days') ?? 3);
let dir: string | null = null;
let file = at('--file');
if (file === undefined) {
  dir = mkdtempSync(join(tmpdir(), 'tg-reqloop-'));
  file = join(dir, 'log.db');
  buildRequestLog(file, Number(at('--rows') ?? 1_000_000));
}
const db = openRequestLog(file);
const inline = new RequestQuery(db);
const reader = new RequestReader(db, createLogger('silent'));
// --days 0: no window, the whole table.
const { filter } = lastDays(db, days);
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
