/**
 * One SQLite thread or two? How long a 500-row request-log batch waits while `GET /usage/summary` reads the log, and
 * how long a page query waits behind a batch, with today's two threads (the log writer, usage-log-sink.ts, and the
 * reader, request-reader.ts, each with its own connection; WAL lets them run at once) against one thread that does
 * both in arrival order (bench/lib/one-store-thread.ts). Interleaved rounds on one file.
 *
 *   node dist/bench/store-threads.js [--rows 1000000] [--rounds 5] [--days 3 (0: the whole log)]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { RequestLogRow } from '../src/contracts/records.js';
import { createLogger } from '../src/log.js';
import { applyMigrations } from '../src/store/database.js';
import { RequestLogBatch } from '../src/store/request-log-batch.js';
import { RequestReader } from '../src/store/request-reader.js';
import { ThreadSink } from '../src/store/usage-log-sink.js';
import { USAGE_MIGRATIONS } from '../src/store/usage-log.js';
import { flagValue } from './lib/args.js';
import { buildRequestLog, lastDays, openRequestLog } from './lib/request-log-file.js';

const args = process.argv.slice(2);
const at = (flag: string): string | undefined => flagValue(args, flag);
const rounds = Number(at('--rounds') ?? 5);
const days = Number(at('--days') ?? 3);
const dir = mkdtempSync(join(tmpdir(), 'tg-storethreads-'));
const file = join(dir, 'log.db');
buildRequestLog(file, Number(at('--rows') ?? 1_000_000));
const db = openRequestLog(file);
applyMigrations(db, USAGE_MIGRATIONS);
const { newest, filter } = lastDays(db, days);
const log = createLogger('silent');
const reader = new RequestReader(db, log);
const sink = new ThreadSink(db, 5000, log);
const one = new Worker(new URL('./lib/one-store-thread.js', import.meta.url), { workerData: { file } });
let nextId = 1;
const waiting = new Map<number, () => void>();
one.on('message', (m: { id: number }) => {
  waiting.get(m.id)!();
  waiting.delete(m.id);
});
function askOne(message: Record<string, unknown>): Promise<void> {
  const id = nextId++;
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    one.postMessage({ id, ...message });
  });
}

function batch(): RequestLogBatch {
  const b = new RequestLogBatch(500);
  for (let i = 0; i < 500; i++) b.add(row(newest + i));
  return b;
}

async function timed(p: Promise<unknown>, t0: number): Promise<number> {
  await p;
  return performance.now() - t0;
}

// Warm both (first thread start, page cache).
await reader.summary('model', filter);
await sink.write(batch());
await askOne({ summary: filter });
await askOne({ batch: batch().toMessage() });

const results = { twoWrite: [] as number[], oneWrite: [] as number[], summary: [] as number[],
  twoBatch: [] as number[], oneBatch: [] as number[] };
for (let round = 1; round <= rounds; round++) {
  // A batch sent 5 ms after a summary started: how long until it is written.
  const summaryTwo = timed(reader.summary('model', filter), performance.now());
  await new Promise((r) => setTimeout(r, 5));
  const twoWrite = await timed(sink.write(batch()), performance.now());
  results.summary.push(await summaryTwo);
  const summaryOne = askOne({ summary: filter });
  await new Promise((r) => setTimeout(r, 5));
  const oneWrite = await timed(askOne({ batch: batch().toMessage() }), performance.now());
  await summaryOne;
  // A batch alone, for scale.
  const twoBatch = await timed(sink.write(batch()), performance.now());
  const oneBatch = await timed(askOne({ batch: batch().toMessage() }), performance.now());
  results.twoWrite.push(twoWrite);
  results.oneWrite.push(oneWrite);
  results.twoBatch.push(twoBatch);
  results.oneBatch.push(oneBatch);
  console.log(`round ${round}: summary ${results.summary.at(-1)!.toFixed(0)} ms; a batch sent meanwhile written ` +
    `after ${twoWrite.toFixed(1)} ms (two threads) | ${oneWrite.toFixed(1)} ms (one thread); a batch alone ` +
    `${twoBatch.toFixed(1)} | ${oneBatch.toFixed(1)} ms`);
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log(`median: batch behind a summary ${median(results.twoWrite).toFixed(1)} ms (two) vs ` +
  `${median(results.oneWrite).toFixed(1)} ms (one) = ${(median(results.oneWrite) / median(results.twoWrite))
    .toFixed(0)}x; summary ${median(results.summary).toFixed(0)} ms`);
one.postMessage({ close: true });
await reader.close();
await sink.close();
db.close();
rmSync(dir, { recursive: true, force: true });

function row(ts: number): RequestLogRow {
  return {
    ts, service: 'svc-0', user: 'user-1', channel: 'ch-0', endpoint: '/v1/chat/completions', model: 'gpt-4o',
    stream: false, status: 200, attempts: 1, latencyMs: 900, ttfbMs: 120, promptTokens: 100, completionTokens: 50,
    totalTokens: 150, inputTokens: 100, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 50, reasoningTokens: 0,
    costMicros: 0, error: null, estimated: false, bytesIn: 300, bytesOut: 600, client: '127.0.0.1',
  };
}
