/**
 * Gateway memory under held request bodies (issue 15, item 6): 150 clients each send the headers of a 10 MiB chat
 * request and all of its body but the last KiB, and hold it. tidegate's RSS is read before, while they hold (peak of
 * samples every 250 ms), and after they leave (1 s, 5 s, 15 s later). With `gateway.bodyBudget` (default
 * min(256 MiB, RAM / 8)) the bodies beyond the budget get 503 before they are read, and the memory comes back.
 * The naive proxy (path `baseline-naive`) holds the same bodies, as the chunks Node read. `TIDEGATE_BENCH_BODY_BYTES`
 * sets another body size (1048576: the 64 KiB–1.5 MiB bodies tidegate keeps as their reads).
 * Runs against any build (TIDEGATE_BENCH_ROOT), so the same numbers can be taken on an older main.
 */
import { connect, type Socket } from 'node:net';
import type { BenchContext, BenchReport, BenchScenario } from '../types.js';
import { startNaiveProxy } from '../lib/baselines.js';
import { MetricCollector, medianOf } from '../lib/metric.js';
import { freePort, sleep } from '../lib/ports.js';
import { spawnTidegate, tidegateAvailable, tidegateCliPath } from '../lib/tidegate.js';
import { chatBody, rssBytes, startUpstream } from './gateway.js';

const CLIENTS = 150;
const BODY_BYTES = 10 * 1024 * 1024 - 4096;
const HELD_BACK = 1024;
const MiB = 1024 * 1024;
/** When RSS is read after the clients left (seconds). */
const AFTER_S = [1, 5, 15, 30] as const;

interface Holder {
  readonly socket: Socket;
  status: number;
  written: boolean;
}

/** One client: connects, sends headers and the body but its last KiB, records the status of an early answer. */
function hold(port: number, body: Buffer): Promise<Holder> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const holder: Holder = { socket, status: 0, written: false };
    let head = '';
    socket.on('data', function answer(chunk: Buffer) {
      if (holder.status !== 0) return;
      head += chunk.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (m) holder.status = Number(m[1]);
    });
    socket.on('error', function ignore() { /* refused connections are cut; counted by status */ });
    socket.once('connect', function send() {
      socket.write(
        'POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n' +
          `authorization: Bearer tg-bench-key\r\ncontent-length: ${body.length}\r\n\r\n`,
      );
      socket.write(body.subarray(0, body.length - HELD_BACK), function written() {
        holder.written = true;
      });
      resolve(holder);
    });
    socket.once('error', reject);
  });
}

/** Body size: `TIDEGATE_BENCH_BODY_BYTES` (e.g. 1048576 for the 64 KiB–1.5 MiB bodies kept as their reads). */
function bodyBytes(): number {
  const env = process.env.TIDEGATE_BENCH_BODY_BYTES;
  if (env === undefined) return BODY_BYTES;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 64 * 1024) throw new Error(`TIDEGATE_BENCH_BODY_BYTES: ${env} (>= 65536 bytes)`);
  return n;
}

/** A chat request of exactly `bytes` bytes: '{"pad":"<spaces>",' + the rest of an ordinary one. */
function paddedBody(bytes: number): Buffer {
  const small = chatBody(false);
  return Buffer.from(`{"pad":"${' '.repeat(bytes - small.length - 9)}",${small.slice(1)}`);
}

type BudgetDetail = Record<string, number> | null;

/** One path's pass: warm it, hold the bodies, read RSS (and tidegate's bodyBudget), let go, read RSS after. */
async function measure(
  context: BenchContext, path: string, port: number, pid: number, body: Buffer, collector: MetricCollector,
  notes: string[], budget: (() => Promise<BudgetDetail>) | null,
): Promise<void> {
  // Warm-up: a few ordinary requests, so "before" is a proxy that has served.
  for (let i = 0; i < 20; i++) {
    const r = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer tg-bench-key' }, body: chatBody(false) });
    await r.text();
  }
  await sleep(1000);
  const before = await rssBytes(pid);
  context.log(
    `${path}: RSS before: ${Math.round(before / MiB)} MiB; ` +
      `${CLIENTS} clients holding ${(body.length / MiB).toFixed(2)} MiB bodies`,
  );
  let peak = before;
  const sampler = setInterval(function sampleRss() {
    rssBytes(pid).then((v) => { if (v > peak) peak = v; }, () => undefined);
  }, 250);
  const holders: Holder[] = [];
  try {
    for (let i = 0; i < CLIENTS; i++) holders.push(await hold(port, body));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && holders.some((h) => !h.written && h.status === 0 && !h.socket.destroyed)) {
      await sleep(100);
    }
    await sleep(2000);
    const during = await rssBytes(pid);
    const budgetDuring = budget === null ? null : await budget();
    const refused = holders.filter((h) => h.status === 503).length;
    const otherStatus = holders.filter((h) => h.status !== 0 && h.status !== 503).length;
    context.log(
      `${path}: RSS holding: ${Math.round(during / MiB)} MiB (peak ${Math.round(peak / MiB)} MiB); 503: ${refused}`,
    );
    for (const h of holders) h.socket.destroy();
    const t0 = Date.now();
    const after: Record<number, number> = {};
    for (const at of AFTER_S) {
      await sleep(Math.max(0, t0 + at * 1000 - Date.now()));
      after[at] = await rssBytes(pid);
    }
    collector.add('rss-before', path, 'MiB', 'lower', before / MiB);
    collector.add('rss-holding', path, 'MiB', 'lower', during / MiB);
    collector.add('rss-peak', path, 'MiB', 'lower', peak / MiB);
    for (const at of AFTER_S) collector.add(`rss-after-${at}s`, path, 'MiB', 'lower', after[at]! / MiB);
    collector.add('refused-503', path, 'requests', 'higher', refused);
    notes.push(
      `${path}: RSS ${Math.round(before / MiB)} MiB before, ${Math.round(during / MiB)} MiB holding ` +
        `(peak ${Math.round(peak / MiB)}), ` +
        AFTER_S.map((at) => `${Math.round(after[at]! / MiB)} MiB ${at} s after`).join(', ') +
        `; 503 answers: ${refused}; other early answers: ${otherStatus}`,
    );
    if (budget !== null) {
      notes.push(
        budgetDuring !== null
          ? `${path}: bodyBudget while holding: ${JSON.stringify(budgetDuring)}; ` +
            `after: ${JSON.stringify(await budget())}`
          : `${path}: this build has no bodyBudget (an older main)`,
      );
    }
  } finally {
    clearInterval(sampler);
    for (const h of holders) h.socket.destroy();
  }
}

async function run(context: BenchContext): Promise<BenchReport> {
  if (!tidegateAvailable()) throw new Error(`tidegate is not built at ${tidegateCliPath()}`);
  const wanted = (path: string): boolean => context.paths === undefined || context.paths.includes(path);
  const notes: string[] = [];
  const collector = new MetricCollector();
  const upstream = await startUpstream();
  const body = paddedBody(bodyBytes());
  notes.push(`${CLIENTS} clients, each holding ${body.length - HELD_BACK} of ${body.length} body bytes`);
  try {
    if (wanted('tidegate')) {
      const port = await freePort();
      const tidegate = await spawnTidegate({
        label: 'tidegate-bodies',
        config: { users: [{ id: 'bench', keys: ['tg-bench-key'] }] },
        services: [{
          name: 'llm', type: 'gateway', listen: `127.0.0.1:${port}`, maxConnections: 100_000,
          channels: [{ name: 'up', kind: 'openai', baseUrl: `http://127.0.0.1:${upstream.port}/v1`, keys: ['sk-bench-1'], models: ['gpt-*'] }],
        }],
      });
      type StatusRaw = { services: { detail?: { bodyBudget?: Record<string, number> } }[] };
      const budget = async (): Promise<BudgetDetail> =>
        ((await tidegate.status()).raw as StatusRaw).services[0]?.detail?.bodyBudget ?? null;
      try {
        await measure(context, 'tidegate', port, tidegate.cpuPid, body, collector, notes, budget);
      } finally {
        await tidegate.stop();
      }
    }
    if (wanted('baseline-naive')) {
      const naive = await startNaiveProxy(`http://127.0.0.1:${upstream.port}`);
      try {
        await measure(context, 'baseline-naive', naive.ports[0]!, naive.cpuPid, body, collector, notes, null);
      } finally {
        await naive.stop();
      }
    }
  } finally {
    await upstream.process.stop();
  }
  const metrics = collector.metrics();
  const value = (name: string, path: string): number => medianOf(metrics, name, path) ?? Number.NaN;
  const growth = (path: string): number => value('rss-holding', path) - value('rss-before', path);
  const afterRatio = value('rss-after-30s', 'tidegate') / value('rss-before', 'tidegate');
  return {
    scenario: 'gateway-bodies',
    metrics,
    ratios: [
      { name: 'RSS holding / before', value: value('rss-holding', 'tidegate') / value('rss-before', 'tidegate') },
      { name: 'RSS 30 s after they left / before', value: afterRatio, target: '<= 1.5', met: afterRatio <= 1.5 },
      {
        name: 'RSS growth while holding: tidegate / naive proxy',
        value: growth('tidegate') / growth('baseline-naive'),
      },
      {
        name: 'RSS growth while holding per body, tidegate (KiB)',
        value: (growth('tidegate') * 1024) / Math.max(1, CLIENTS - value('refused-503', 'tidegate')),
      },
      {
        name: 'RSS growth while holding per body, naive proxy (KiB)',
        value: (growth('baseline-naive') * 1024) / CLIENTS,
      },
    ],
    notes,
  };
}

export const scenario: BenchScenario = {
  name: 'gateway-bodies',
  description:
    'gateway RSS with 150 clients holding almost-complete bodies (10 MiB unless TIDEGATE_BENCH_BODY_BYTES): ' +
    'before, while they hold, after they leave; tidegate and the naive proxy',
  run,
};
