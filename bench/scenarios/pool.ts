/**
 * `npm run bench -- pool`: what the worker pool buys and costs on this machine.
 *  1. JSON request bodies of 1 KiB … 8 MiB, inline vs pool: tasks/s and the main thread's event-loop delay
 *     (perf_hooks.monitorEventLoopDelay) while they run. Pool runs keep up to 50 bodies in flight.
 *  2. From (1), this machine's offload threshold: written to bench/results/pool-threshold.json for users to copy into
 *     `pool.jsonOffloadBytes` (`auto` is a documented constant, src/pool/threshold.ts; nothing reads this file).
 *  3. GeoIP lookups/s: LRU hits, uncached inline (database on the main thread), uncached through the pool (batched).
 *  4. Credential scan of 2,000 generated files: in the pool vs on the main thread, time and event-loop delay.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { scanInPool } from '../../src/credentials/offload.js';
import { scanCredentialDir } from '../../src/credentials/scan.js';
import { parseRequest } from '../../src/dialects/offload.js';
import { summarizeRequest } from '../../src/dialects/summarize.js';
import { openGeoDatabase } from '../../src/geo/database.js';
import { createGeoResolver } from '../../src/geo/resolver.js';
import { createLogger } from '../../src/log.js';
import { createWorkerPool, type WorkerPool } from '../../src/pool/pool.js';
import { generateCredentialDir } from '../../test/fixtures/pool/credentials.js';
import type { BenchContext, BenchMetric, BenchRatio, BenchReport, BenchScenario } from '../types.js';

/**
 * Where the bench stores the offload threshold it measured, for users who want to set `pool.jsonOffloadBytes` to
 * this machine's figure. tidegate never reads it: `auto` is the documented constant in src/pool/threshold.ts.
 */
const THRESHOLD_FILE = fileURLToPath(new URL('../../../bench/results/pool-threshold.json', import.meta.url));

interface ThresholdRecord {
  readonly jsonOffloadBytes: number;
  readonly measuredAt: string;
  readonly why: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZES = [KiB, 16 * KiB, 256 * KiB, MiB, 8 * MiB];
const IN_FLIGHT = 50;
/** One inline body may hold the event loop this long before offloading is worth its hop. */
const INLINE_BUDGET_MS = 1;
const TARGET_P99_MS = 5;

function label(bytes: number): string {
  return bytes >= MiB ? `${bytes / MiB}MiB` : `${bytes / KiB}KiB`;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function metric(name: string, path: string, unit: string, better: 'higher' | 'lower', samples: number[]): BenchMetric {
  return { name, path, unit, better, samples, median: median(samples) };
}

/** A realistic chat body of about `bytes` bytes. */
function chatBody(bytes: number): Buffer {
  const turn = 'The quick brown fox jumps over the lazy dog, then checks the weather in Paris. '.repeat(6);
  const messages: { role: string; content: string }[] = [{ role: 'system', content: 'You are a careful assistant.' }];
  let size = 80;
  for (let i = 0; size < bytes; i++) {
    const m = { role: i % 2 === 0 ? 'user' : 'assistant', content: `${i}: ${turn}` };
    messages.push(m);
    size += m.content.length + 34;
  }
  return Buffer.from(JSON.stringify({ model: 'gpt-4o', stream: true, user: 'bench', messages }));
}

/** mainMsPerTask: main-thread busy time per task (event-loop utilisation), what other connections lose. */
interface RunResult { tasksPerSec: number; p50: number; p99: number; max: number; mainMsPerTask: number }

/** Runs `count` tasks and records the loop delay meanwhile. `start(i)` starts task i and resolves when it is done. */
async function measure(
  count: number, inFlight: number, start: (i: number, lane: number) => Promise<unknown>,
): Promise<RunResult> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  await new Promise((r) => setTimeout(r, 20));
  h.enable();
  const elu0 = performance.eventLoopUtilization();
  const t0 = process.hrtime.bigint();
  let next = 0;
  async function lane(k: number): Promise<void> {
    while (next < count) {
      const i = next++;
      await start(i, k);
    }
  }
  const lanes: Promise<void>[] = [];
  for (let k = 0; k < Math.min(inFlight, count); k++) lanes.push(lane(k));
  await Promise.all(lanes);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const elu = performance.eventLoopUtilization(elu0);
  h.disable();
  return {
    tasksPerSec: count / secs, p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6,
    mainMsPerTask: elu.active / count,
  };
}

/** Inline: one body per macrotask, as request bodies arrive one per 'end' event; the loop turns in between. */
function inlineTask(body: Buffer): Promise<unknown> {
  return new Promise(function parseInNextTurn(resolve, reject) {
    setImmediate(function parseInline() {
      try {
        resolve(summarizeRequest('openai-chat', body, 'user'));
      } catch (err) {
        reject(err);
      }
    });
  });
}

type JsonResults = Map<number, { inline: RunResult; pool: RunResult; transfer: RunResult }>;

async function jsonBench(
  ctx: BenchContext, pool: WorkerPool, metrics: BenchMetric[], ratios: BenchRatio[], notes: string[],
): Promise<JsonResults> {
  const out: JsonResults = new Map();
  const budget = ctx.quick ? 24 * MiB : 96 * MiB;
  for (const size of SIZES) {
    const body = chatBody(size);
    const count = Math.max(ctx.quick ? 12 : 24, Math.min(20_000, Math.floor(budget / body.length)));
    const inFlight = Math.min(IN_FLIGHT, Math.max(2, Math.floor(512 * MiB / body.length / 2)));
    const inl: RunResult[] = [];
    const pl: RunResult[] = [];
    const tr: RunResult[] = [];
    // transfer: each lane owns one body that goes to a worker and comes back (`transfer: true`), never copied.
    const owned: Buffer[] = [];
    for (let k = 0; k < inFlight; k++) {
      const b = Buffer.allocUnsafeSlow(body.byteLength);
      body.copy(b);
      owned.push(b);
    }
    for (let r = 0; r < ctx.rounds; r++) {
      inl.push(await measure(count, 1, () => inlineTask(body)));
      pl.push(await measure(count, inFlight, () => parseRequest(pool, 'openai-chat', body, { sessionField: 'user' })));
      tr.push(await measure(count, inFlight, async (_i, k) => {
        const parsed = await parseRequest(pool, 'openai-chat', owned[k]!, { sessionField: 'user', transfer: true });
        owned[k] = parsed.body;
      }));
    }
    const pick = (rs: RunResult[], k: keyof RunResult) => rs.map((x) => x[k]);
    const L = label(size);
    metrics.push(metric(`tasksPerSec@${L}`, 'inline', 'tasks/s', 'higher', pick(inl, 'tasksPerSec')));
    metrics.push(metric(`tasksPerSec@${L}`, 'pool', 'tasks/s', 'higher', pick(pl, 'tasksPerSec')));
    metrics.push(metric(`tasksPerSec@${L}`, 'pool-transfer', 'tasks/s', 'higher', pick(tr, 'tasksPerSec')));
    metrics.push(metric(`mainThreadMsPerTask@${L}`, 'pool-transfer', 'ms', 'lower', pick(tr, 'mainMsPerTask')));
    metrics.push(metric(`eventLoopDelayP99@${L}`, 'pool-transfer', 'ms', 'lower', pick(tr, 'p99')));
    metrics.push(metric(`mainThreadMsPerTask@${L}`, 'inline', 'ms', 'lower', pick(inl, 'mainMsPerTask')));
    metrics.push(metric(`mainThreadMsPerTask@${L}`, 'pool', 'ms', 'lower', pick(pl, 'mainMsPerTask')));
    metrics.push(metric(`eventLoopDelayP50@${L}`, 'inline', 'ms', 'lower', pick(inl, 'p50')));
    metrics.push(metric(`eventLoopDelayP50@${L}`, 'pool', 'ms', 'lower', pick(pl, 'p50')));
    metrics.push(metric(`eventLoopDelayP99@${L}`, 'inline', 'ms', 'lower', pick(inl, 'p99')));
    metrics.push(metric(`eventLoopDelayP99@${L}`, 'pool', 'ms', 'lower', pick(pl, 'p99')));
    const summarize = (rs: RunResult[]): RunResult => ({
      tasksPerSec: median(pick(rs, 'tasksPerSec')), p50: median(pick(rs, 'p50')), p99: median(pick(rs, 'p99')),
      max: median(pick(rs, 'max')), mainMsPerTask: median(pick(rs, 'mainMsPerTask')),
    });
    const summary = {
      transfer: summarize(tr),
      inline: {
        tasksPerSec: median(pick(inl, 'tasksPerSec')), p50: median(pick(inl, 'p50')), p99: median(pick(inl, 'p99')),
        max: median(pick(inl, 'max')), mainMsPerTask: median(pick(inl, 'mainMsPerTask')),
      },
      pool: {
        tasksPerSec: median(pick(pl, 'tasksPerSec')), p50: median(pick(pl, 'p50')), p99: median(pick(pl, 'p99')),
        max: median(pick(pl, 'max')), mainMsPerTask: median(pick(pl, 'mainMsPerTask')),
      },
    };
    out.set(size, summary);
    ratios.push({ name: `pool/inline tasks/s @${L}`, value: summary.pool.tasksPerSec / summary.inline.tasksPerSec });
    ratios.push({
      name: `pool/inline main-thread ms per task @${L}`,
      value: summary.pool.mainMsPerTask / summary.inline.mainMsPerTask,
    });
    if (size === MiB) {
      ratios.push({
        name: `event-loop delay p99 (ms) with ${inFlight} x 1MiB in flight, pool`, value: summary.pool.p99,
        target: `<= ${TARGET_P99_MS}`, met: summary.pool.p99 <= TARGET_P99_MS,
      });
      ratios.push({
        name: `event-loop delay p99 (ms) with ${inFlight} x 1MiB in flight, pool-transfer`, value: summary.transfer.p99,
        target: `<= ${TARGET_P99_MS}`, met: summary.transfer.p99 <= TARGET_P99_MS,
      });
      ratios.push({
        name: 'pool-transfer/pool main-thread ms per task @1MiB',
        value: summary.transfer.mainMsPerTask / summary.pool.mainMsPerTask,
      });
    }
    ctx.log(`json ${L}: inline ${summary.inline.tasksPerSec.toFixed(0)}/s`
      + ` main ${(summary.inline.mainMsPerTask * 1000).toFixed(1)}µs/task`
      + ` loop p50/p99 ${summary.inline.p50.toFixed(2)}/${summary.inline.p99.toFixed(2)}ms`
      + ` | pool ${summary.pool.tasksPerSec.toFixed(0)}/s main ${(summary.pool.mainMsPerTask * 1000).toFixed(1)}µs/task`
      + ` loop p50/p99 ${summary.pool.p50.toFixed(2)}/${summary.pool.p99.toFixed(2)}ms`
      + ` | pool-transfer ${summary.transfer.tasksPerSec.toFixed(0)}/s`
      + ` main ${(summary.transfer.mainMsPerTask * 1000).toFixed(1)}µs/task`
      + ` loop p99 ${summary.transfer.p99.toFixed(2)}ms (${inFlight} in flight)`);
    notes.push(`json ${L}: ${count} bodies/round; pool keeps ${inFlight} in flight.`);
  }
  return out;
}

/**
 * The threshold is the smallest of two sizes:
 *  (a) where a pool task costs the main thread less than parsing inline (the hop's copy + postMessage + result
 *      handling vs JSON.parse + validation), interpolated log-linearly between the two measured sizes around it:
 *      above it, offloading gives every other connection more of the event loop;
 *  (b) where one inline body would hold the loop longer than INLINE_BUDGET_MS (inline cost is linear in size:
 *      fitted from the large sizes), so no single request stalls the others noticeably.
 */
function pickThreshold(results: JsonResults): ThresholdRecord {
  let msPerByte = 0;
  for (const size of [256 * KiB, MiB, 8 * MiB]) {
    const r = results.get(size);
    if (r) msPerByte = Math.max(msPerByte, r.inline.mainMsPerTask / size);
  }
  const budgetBytes = msPerByte > 0 ? INLINE_BUDGET_MS / msPerByte : 128 * KiB;
  let crossover = Number.POSITIVE_INFINITY;
  for (let k = 0; k < SIZES.length; k++) {
    const r = results.get(SIZES[k]!)!;
    const ratio = r.pool.mainMsPerTask / r.inline.mainMsPerTask;
    if (ratio > 1) continue;
    if (k === 0) { crossover = SIZES[0]!; break; }
    const prev = results.get(SIZES[k - 1]!)!;
    const prevRatio = prev.pool.mainMsPerTask / prev.inline.mainMsPerTask;
    const t = Math.log(prevRatio) / (Math.log(prevRatio) - Math.log(ratio));
    crossover = SIZES[k - 1]! * (SIZES[k]! / SIZES[k - 1]!) ** t;
    break;
  }
  const raw = Math.min(budgetBytes, crossover);
  // Whole KiB; never below 4 KiB (a hop always costs more than parsing a few KiB).
  const bytes = Math.max(4 * KiB, Math.floor(raw / KiB) * KiB);
  const kib = (b: number) => `${Math.round(b / KiB)} KiB`;
  const why = `inline parse+validate costs ${(msPerByte * 1000 * KiB).toFixed(2)} µs/KiB of main thread here; `
    + (Number.isFinite(crossover)
      ? `a pool task costs the main thread less than inline from ~${kib(crossover)} up`
      : 'a pool task never cost the main thread less than inline')
    + `, and an inline body reaches the ${INLINE_BUDGET_MS} ms loop-stall budget at ~${kib(budgetBytes)}; `
    + `the smaller, ${kib(bytes)}, is the threshold: bodies at or above it go to the pool.`;
  return { jsonOffloadBytes: bytes, measuredAt: new Date().toISOString(), why };
}

function randomIps(n: number, seed: number): string[] {
  let x = seed >>> 0;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out.push(`${(x >>> 24) % 223 + 1}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`);
  }
  return out;
}

async function geoBench(
  ctx: BenchContext, pool: WorkerPool, metrics: BenchMetric[], ratios: BenchRatio[],
): Promise<void> {
  const log = createLogger('silent');
  const n = ctx.quick ? 20_000 : 100_000;
  const cachedS: number[] = [];
  const inlineS: number[] = [];
  const poolS: number[] = [];
  const poolMainUs: number[] = [];
  const db = await openGeoDatabase({ database: 'embedded', lists: [] });
  for (let r = 0; r < ctx.rounds; r++) {
    const ips = randomIps(n, 1234 + r);
    // Cached: 1,000 hot addresses in a warm LRU.
    const warm = createGeoResolver({ database: 'embedded', lists: [], cacheSize: 10_000 }, pool, log);
    const hot = ips.slice(0, 1000);
    await Promise.all(hot.map((ip) => Promise.resolve(warm.country(ip))));
    let t0 = process.hrtime.bigint();
    let sink = 0;
    for (let i = 0; i < n; i++) if (warm.country(hot[i % 1000]!) !== null) sink++;
    cachedS.push(n / (Number(process.hrtime.bigint() - t0) / 1e9));
    // Uncached inline: the database opened on the main thread.
    t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) if (db.lookup(ips[i]!) !== null) sink++;
    inlineS.push(n / (Number(process.hrtime.bigint() - t0) / 1e9));
    // Uncached through the pool: cache off, bursts of 2,000 concurrent lookups (batched per turn).
    const cold = createGeoResolver({ database: 'embedded', lists: [], cacheSize: 0 }, pool, log);
    await cold.ready();
    const elu0 = performance.eventLoopUtilization();
    t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i += 2000) {
      await Promise.all(ips.slice(i, i + 2000).map((ip) => Promise.resolve(cold.country(ip))));
    }
    poolS.push(n / (Number(process.hrtime.bigint() - t0) / 1e9));
    poolMainUs.push((performance.eventLoopUtilization(elu0).active * 1000) / n);
    if (sink < 0) ctx.log('unreachable');
  }
  metrics.push(metric('geoLookupsPerSec', 'cached', 'lookups/s', 'higher', cachedS));
  metrics.push(metric('geoLookupsPerSec', 'uncached-inline', 'lookups/s', 'higher', inlineS));
  metrics.push(metric('geoLookupsPerSec', 'uncached-pool', 'lookups/s', 'higher', poolS));
  metrics.push(metric('geoMainThreadUsPerLookup', 'uncached-pool', 'µs', 'lower', poolMainUs));
  metrics.push(metric('geoMainThreadUsPerLookup', 'uncached-inline', 'µs', 'lower', inlineS.map((x) => 1e6 / x)));
  ratios.push({ name: 'geo cached / uncached-pool lookups/s', value: median(cachedS) / median(poolS) });
  ratios.push({ name: 'geo uncached-inline / uncached-pool lookups/s', value: median(inlineS) / median(poolS) });
  ctx.log(`geo: cached ${median(cachedS).toFixed(0)}/s, uncached inline ${median(inlineS).toFixed(0)}/s,`
    + ` uncached pool ${median(poolS).toFixed(0)}/s (main thread ${median(poolMainUs).toFixed(2)} µs/lookup`
    + ` vs ${(1e6 / median(inlineS)).toFixed(2)} inline)`);
}

async function credentialBench(
  ctx: BenchContext, pool: WorkerPool, metrics: BenchMetric[], ratios: BenchRatio[],
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tg-bench-creds-'));
  try {
    await generateCredentialDir(dir, 2000);
    const poolMs: number[] = [];
    const inlineMs: number[] = [];
    const poolP99: number[] = [];
    const inlineP99: number[] = [];
    for (let r = 0; r < ctx.rounds; r++) {
      for (const mode of ['pool', 'inline'] as const) {
        const h = monitorEventLoopDelay({ resolution: 1 });
        h.enable();
        const t0 = process.hrtime.bigint();
        const data = mode === 'pool' ? await scanInPool(pool, dir) : await scanCredentialDir(dir, null);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        h.disable();
        if (data.entries.length + data.invalid.length !== 2000) {
          throw new Error(`scan saw ${data.entries.length + data.invalid.length} files`);
        }
        (mode === 'pool' ? poolMs : inlineMs).push(ms);
        (mode === 'pool' ? poolP99 : inlineP99).push(h.percentile(99) / 1e6);
      }
    }
    metrics.push(metric('credentialScan2000', 'pool', 'ms', 'lower', poolMs));
    metrics.push(metric('credentialScan2000', 'inline', 'ms', 'lower', inlineMs));
    metrics.push(metric('credentialScanEventLoopDelayP99', 'pool', 'ms', 'lower', poolP99));
    metrics.push(metric('credentialScanEventLoopDelayP99', 'inline', 'ms', 'lower', inlineP99));
    ratios.push({ name: 'credential scan time pool/inline', value: median(poolMs) / median(inlineMs) });
    ctx.log(`credentials: 2000 files in ${median(poolMs).toFixed(0)} ms`
      + ` (pool, loop p99 ${median(poolP99).toFixed(2)} ms)`
      + ` vs ${median(inlineMs).toFixed(0)} ms (main thread, loop p99 ${median(inlineP99).toFixed(2)} ms)`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const scenario: BenchScenario = {
  name: 'pool',
  description: 'Worker pool: JSON inline vs pool (tasks/s, event-loop delay), offload threshold, GeoIP lookups,'
    + ' credential scan',
  async run(ctx: BenchContext): Promise<BenchReport> {
    const metrics: BenchMetric[] = [];
    const ratios: BenchRatio[] = [];
    const notes: string[] = [];
    const threads = 2;
    const pool = createWorkerPool(
      { threads, jsonOffloadBytes: 0, maxQueue: 256, idleTimeoutMs: 60_000 }, createLogger('silent'),
      { jsonOffloadBytes: 0 },
    );
    try {
      // Warm the workers (module load, JIT) so the first size does not pay for it.
      await Promise.all(Array.from({ length: 8 }, () => parseRequest(pool, 'openai-chat', chatBody(64 * KiB))));
      const json = await jsonBench(ctx, pool, metrics, ratios, notes);
      const threshold = pickThreshold(json);
      await mkdir(dirname(THRESHOLD_FILE), { recursive: true });
      await writeFile(THRESHOLD_FILE, `${JSON.stringify(threshold, null, 2)}\n`);
      if (join(ctx.resultsDir, 'pool-threshold.json') !== THRESHOLD_FILE) {
        await mkdir(ctx.resultsDir, { recursive: true });
        await writeFile(join(ctx.resultsDir, 'pool-threshold.json'), `${JSON.stringify(threshold, null, 2)}\n`);
      }
      notes.push(`offload threshold: ${threshold.jsonOffloadBytes} bytes — ${threshold.why}`);
      ctx.log(`threshold ${threshold.jsonOffloadBytes} bytes: ${threshold.why}`);
      await geoBench(ctx, pool, metrics, ratios);
      await credentialBench(ctx, pool, metrics, ratios);
      notes.push(`pool: ${threads} threads; measured on a shared 2-core machine:`
        + ' compare ratios within this run, not absolute numbers.');
    } finally {
      await pool.close();
    }
    return { scenario: 'pool', metrics, ratios, notes };
  },
};

/** `node dist/bench/scenarios/pool.js [--quick] [--rounds N]` runs this scenario alone (before bench/run.ts exists). */
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const quick = process.argv.includes('--quick');
  const ri = process.argv.indexOf('--rounds');
  const rounds = ri > 0 ? Number(process.argv[ri + 1]) : quick ? 1 : 3;
  const resultsDir = dirname(THRESHOLD_FILE);
  const report = await scenario.run({ rounds, quick, resultsDir, log: (m) => console.error(m) });
  await mkdir(resultsDir, { recursive: true });
  await writeFile(join(resultsDir, 'pool.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify(report.ratios, null, 2));
}
