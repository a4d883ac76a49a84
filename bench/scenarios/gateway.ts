/**
 * The gateway bench: the LLM upstream alone, the naive Node proxy (bench/baselines/naive-proxy.ts: http + undici +
 * JSON.parse) and tidegate's gateway service with client auth, a routing rule, session affinity, circuit breakers
 * and usage logging to SQLite all on — in one run, interleaved round by round.
 *  - chat300: 300-byte chat requests, 50 connections (autocannon): req/s, p50, p99;
 *  - stream: streamed answers (20 events, 5 ms apart): time to first byte and inter-chunk gap, p50;
 *  - mib: 1 MiB request bodies, 10 connections: req/s, p99, CPU µs per request of the path's process;
 *  - RSS of tidegate before and after its load (a short run, not the 5 minutes);
 *  - converted paths through the same tidegate: a Responses client on the chat channels (Responses → chat) and a
 *    chat client on an Anthropic channel (chat → messages), chat300 and stream, against the Anthropic upstream alone
 *    for the latter's TTFB.
 */
import autocannon from 'autocannon';
import { Agent, request as httpRequest } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchContext, BenchRatio, BenchReport, BenchScenario } from '../types.js';
import { MetricCollector, medianOf } from '../lib/metric.js';
import { startNaiveProxy, type RunningPath } from '../lib/baselines.js';
import { cpuSecondsOf } from '../lib/cpu.js';
import { freePort, waitForPort } from '../lib/ports.js';
import { ManagedProcess } from '../lib/process.js';
import { spawnTidegate, tidegateAvailable, tidegateCliPath, type TidegateProcess } from '../lib/tidegate.js';

const here = dirname(fileURLToPath(import.meta.url));
export const CLIENT_KEY = 'tg-bench-key';
const STREAM_EVENTS = 20;
const STREAM_GAP_MS = 5;
/** Seconds of chat load each path gets before round 1 (see the warm-up in run()). */
const WARM_S = 4;

export const PATHS = [
  'upstream', 'baseline-naive', 'tidegate', 'upstream-anthropic', 'tidegate-responses-chat', 'tidegate-chat-messages',
] as const;
export type PathName = (typeof PATHS)[number];

/** A ~300-byte chat request (the small request); `model` routes it (claude-* to the Anthropic channel). */
export function chatBody(stream: boolean, model = 'gpt-4o-mini'): string {
  const base = {
    model, stream,
    messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: '' }],
  };
  const empty = JSON.stringify(base).length;
  base.messages[1]!.content = 'Summarise the benchmark. '.repeat(20).slice(0, Math.max(1, 300 - empty));
  return JSON.stringify(base);
}

/** A ~300-byte Responses request (converted to chat by tidegate). */
function responsesBody(stream: boolean): string {
  const base = { model: 'gpt-4o-mini', stream, instructions: 'You are terse.', input: '' };
  const empty = JSON.stringify(base).length;
  base.input = 'Summarise the benchmark. '.repeat(20).slice(0, Math.max(1, 300 - empty));
  return JSON.stringify(base);
}

/** A ~300-byte Anthropic Messages request (the Anthropic upstream alone). */
function messagesBody(stream: boolean): string {
  const base = {
    model: 'claude-sonnet-4-5', max_tokens: 1024, stream, system: 'You are terse.',
    messages: [{ role: 'user', content: '' }],
  };
  const empty = JSON.stringify(base).length;
  base.messages[0]!.content = 'Summarise the benchmark. '.repeat(20).slice(0, Math.max(1, 300 - empty));
  return JSON.stringify(base);
}

function mibBody(): string {
  const base = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: '' }] };
  const empty = JSON.stringify(base).length;
  base.messages[0]!.content = 'x'.repeat(1024 * 1024 - empty);
  return JSON.stringify(base);
}

export interface Target {
  readonly path: PathName;
  /** Base URL the client posts to (…/v1/chat/completions is appended). */
  readonly url: string;
  readonly headers: Record<string, string>;
  /** The process whose CPU time is this path's. */
  readonly pid: number;
  /** The request path; `/v1/chat/completions` when not given. */
  readonly endpoint?: string;
  /** The ~300-byte request body, streamed or not; chatBody when not given. */
  readonly body?: (stream: boolean) => string;
}

const CHAT_PATH = '/v1/chat/completions';

interface CannonResult {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly non2xx: number;
}

export async function cannon(t: Target, body: string, connections: number, durationS: number): Promise<CannonResult> {
  const result = await autocannon({
    url: t.url + (t.endpoint ?? CHAT_PATH),
    method: 'POST',
    connections,
    duration: durationS,
    headers: { 'content-type': 'application/json', ...t.headers },
    body,
  });
  return {
    rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors,
    non2xx: result.non2xx,
  };
}

interface StreamResult {
  readonly ttfbP50: number;
  readonly gapP50: number;
  readonly failed: number;
}

/** Streamed requests from `concurrency` keep-alive connections: time to first body byte and gaps between chunks. */
export async function streams(t: Target, concurrency: number, perConnection: number): Promise<StreamResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const body = (t.body ?? chatBody)(true);
  const endpoint = t.endpoint ?? CHAT_PATH;
  const { hostname, port } = new URL(t.url);
  const ttfb: number[] = [];
  const gaps: number[] = [];
  let failed = 0;
  function one(): Promise<void> {
    return new Promise<void>(function streamOnce(resolve) {
      const start = performance.now();
      let last = 0;
      const req = httpRequest({
        host: hostname, port, method: 'POST', path: endpoint, agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...t.headers },
      }, function onStreamResponse(res) {
        if (res.statusCode !== 200) failed++;
        res.on('data', function onStreamChunk() {
          const now = performance.now();
          if (last === 0) ttfb.push(now - start);
          else gaps.push(now - last);
          last = now;
        });
        res.on('end', resolve);
        res.on('error', function onStreamError() {
          failed++;
          resolve();
        });
      });
      req.on('error', function onStreamRequestError() {
        failed++;
        resolve();
      });
      req.end(body);
    });
  }
  async function loop(): Promise<void> {
    for (let i = 0; i < perConnection; i++) await one();
  }
  await Promise.all(Array.from({ length: concurrency }, loop));
  agent.destroy();
  return { ttfbP50: percentile(ttfb, 0.5), gapP50: percentile(gaps, 0.5), failed };
}

function percentile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

export async function startUpstream(): Promise<{ process: ManagedProcess; port: number }> {
  const port = await freePort();
  const child = new ManagedProcess('llm-upstream', process.execPath, [
    join(here, 'gateway', 'llm-upstream-server.js'), '--port', String(port), '--events', String(STREAM_EVENTS),
    '--gap-ms', String(STREAM_GAP_MS),
  ]);
  await waitForPort(port, 10_000, () => child.assertAlive());
  return { process: child, port };
}

/** `extra`: more top-level config (prices, users with budgets and limits, store) and a label; see gateway-spend. */
export async function startGatewayTidegate(
  upstreamPort: number, dbDir: string, extra: { label?: string; config?: Record<string, unknown> } = {},
): Promise<{ tidegate: TidegateProcess; port: number }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${upstreamPort}/v1`;
  const tidegate = await spawnTidegate({
    label: extra.label ?? 'tidegate-gateway',
    config: {
      store: { sqlite: join(dbDir, 'bench.db') },
      users: [{ id: 'bench', keys: [CLIENT_KEY] }],
      ...extra.config,
    },
    services: [{
      name: 'llm',
      type: 'gateway',
      listen: `127.0.0.1:${port}`,
      maxConnections: 100_000,
      strategy: 'priority',
      channels: [
        {
          name: 'primary', kind: 'openai', baseUrl: base, keys: ['sk-bench-1', 'sk-bench-2'], models: ['gpt-*'],
          priority: 2, maxConnections: 128,
        },
        {
          name: 'secondary', kind: 'openai', baseUrl: base, keys: ['sk-bench-3'], models: ['gpt-*'],
          priority: 1, maxConnections: 128,
        },
        // The converted chat → messages path's channel (claude-* only: the chat paths never reach it).
        {
          name: 'anthropic', kind: 'anthropic', baseUrl: `http://127.0.0.1:${upstreamPort}`, keys: ['sk-bench-4'],
          models: ['claude-*'], priority: 1, maxConnections: 128,
        },
      ],
      rules: [
        { match: { model: 'gpt-*' }, channels: ['primary', 'secondary'], strategy: 'priority' },
        { match: { model: 'claude-*' }, channels: ['anthropic'] },
      ],
      affinity: { header: 'x-session-id', maxEntries: 10_000, ttl: '1h' },
      breaker: { consecutiveFailures: 5, errorRatio: 0.5, minRequests: 20, window: '1m', openFor: '30s' },
    }],
  });
  return { tidegate, port };
}

async function run(context: BenchContext): Promise<BenchReport> {
  const notes: string[] = [
    "The load generator, the upstream and the proxies share this machine's cores: read ratios, not absolutes.",
  ];
  const durationS = context.quick ? 3 : 8;
  const collector = new MetricCollector();
  if (!tidegateAvailable()) throw new Error(`tidegate is not built at ${tidegateCliPath()}`);
  const upstream = await startUpstream();
  const dbDir = await mkdtemp(join(tmpdir(), 'tidegate-gateway-bench-'));
  let naive: RunningPath | null = null;
  let tg: { tidegate: TidegateProcess; port: number } | null = null;
  try {
    // The perf gate asks for the tidegate path only; the upstream runs regardless (it is the backend).
    const wanted = (path: PathName): boolean => context.paths === undefined || context.paths.includes(path);
    if (wanted('baseline-naive')) naive = await startNaiveProxy(`http://127.0.0.1:${upstream.port}`);
    tg = await startGatewayTidegate(upstream.port, dbDir);
    const up = `http://127.0.0.1:${upstream.port}`;
    const all: Target[] = [{ path: 'upstream', url: up, headers: {}, pid: upstream.process.pid }];
    if (naive !== null) all.push({ path: 'baseline-naive', url: `http://127.0.0.1:${naive.ports[0]}`, headers: { authorization: `Bearer ${CLIENT_KEY}` }, pid: naive.cpuPid });
    const tgUrl = `http://127.0.0.1:${tg.port}`;
    const tgHeaders = { authorization: `Bearer ${CLIENT_KEY}`, 'x-session-id': 'bench-session-1' };
    const tgPid = tg.tidegate.cpuPid;
    all.push({ path: 'tidegate', url: tgUrl, headers: tgHeaders, pid: tgPid });
    // The converted paths, and the Anthropic upstream alone for the chat → messages path's TTFB.
    all.push({
      path: 'upstream-anthropic', url: up, headers: {}, pid: upstream.process.pid, endpoint: '/v1/messages',
      body: messagesBody,
    });
    all.push({
      path: 'tidegate-responses-chat', url: tgUrl, headers: tgHeaders, pid: tgPid, endpoint: '/v1/responses',
      body: responsesBody,
    });
    all.push({
      path: 'tidegate-chat-messages', url: tgUrl, headers: tgHeaders, pid: tgPid,
      body: function claudeChatBody(stream: boolean) {
        return chatBody(stream, 'claude-sonnet-4-5');
      },
    });
    const targets = all.filter((t) => wanted(t.path));
    // 1 MiB bodies: the pass-through paths only (the converted ones are measured on small requests).
    const mibTargets = targets.filter(function passThrough(t) {
      return t.path === 'upstream' || t.path === 'baseline-naive' || t.path === 'tidegate';
    });
    const small = chatBody(false);
    const big = mibBody();
    notes.push(
      `chat request body ${Buffer.byteLength(small)} bytes; big body ${Buffer.byteLength(big)} bytes; ` +
        `${durationS} s per measurement`,
    );

    // Warm-up of every kind of load (JIT, connection pools, SQLite statements, big-body buffers) before RSS is read.
    // WARM_S of chat each: a fresh process spends its first seconds under load optimizing its hot paths (perf: 40 % of
    // its CPU in V8's TurboFan threads, 20 % in inline caches and baseline code; ~600 µs CPU a request in the first
    // second, ~65 from the fourth here, longer when the machine is busy), which a 1 s warm-up left to round 1.
    for (const t of targets) {
      await cannon(t, (t.body ?? chatBody)(false), 50, WARM_S);
      await streams(t, 10, 3);
    }
    for (const t of mibTargets) await cannon(t, big, 10, 1);
    const rssStart = await rssBytes(tg.tidegate.cpuPid);

    for (let round = 0; round < context.rounds; round++) {
      context.log(`gateway round ${round + 1}/${context.rounds}`);
      for (const t of targets) {
        const cpuBefore = await cpuSecondsOf(t.pid);
        const r = await cannon(t, t.body === undefined ? small : t.body(false), 50, durationS);
        const cpu = (await cpuSecondsOf(t.pid)) - cpuBefore;
        // CPU per request is the fair figure on a shared machine: every process here competes for 2 cores.
        collector.add('chat300-cpu-us-per-req', t.path, 'µs', 'lower', (cpu * 1e6) / Math.max(1, r.rps * durationS));
        collector.add('chat300-rps', t.path, 'req/s', 'higher', r.rps);
        collector.add('chat300-p50', t.path, 'ms', 'lower', r.p50);
        collector.add('chat300-p99', t.path, 'ms', 'lower', r.p99);
        if (r.errors > 0 || r.non2xx > 0) {
          notes.push(`round ${round + 1} chat300 ${t.path}: ${r.errors} errors, ${r.non2xx} non-2xx`);
        }
      }
      for (const t of targets) {
        const s = await streams(t, 10, context.quick ? 10 : 30);
        collector.add('stream-ttfb-p50', t.path, 'ms', 'lower', s.ttfbP50);
        collector.add('stream-gap-p50', t.path, 'ms', 'lower', s.gapP50);
        if (s.failed > 0) notes.push(`round ${round + 1} stream ${t.path}: ${s.failed} failed`);
      }
      for (const t of mibTargets) {
        const cpuBefore = await cpuSecondsOf(t.pid);
        const r = await cannon(t, big, 10, durationS);
        const cpu = (await cpuSecondsOf(t.pid)) - cpuBefore;
        collector.add('mib-cpu-us-per-req', t.path, 'µs', 'lower', (cpu * 1e6) / Math.max(1, r.rps * durationS));
        collector.add('mib-rps', t.path, 'req/s', 'higher', r.rps);
        collector.add('mib-p99', t.path, 'ms', 'lower', r.p99);
        if (r.errors > 0 || r.non2xx > 0) {
          notes.push(`round ${round + 1} mib ${t.path}: ${r.errors} errors, ${r.non2xx} non-2xx`);
        }
      }
    }
    const rssEnd = await rssBytes(tg.tidegate.cpuPid);
    collector.add('rss-growth', 'tidegate', 'ratio', 'lower', rssEnd / rssStart);
    notes.push(
      `tidegate RSS ${Math.round(rssStart / 1048576)} MiB after warm-up, ` +
        `${Math.round(rssEnd / 1048576)} MiB at the end (a short run, not 5 minutes)`,
    );
    const status = (await tg.tidegate.status()).raw as {
      services?: { detail?: { usageLog?: { written?: number; badRows?: number } } }[];
    };
    const usage = status.services?.[0]?.detail?.usageLog;
    if (usage) {
      notes.push(
        `usage rows written by tidegate during the run: ${usage.written ?? 0} (bad rows: ${usage.badRows ?? 0})`,
      );
    }
  } finally {
    if (tg) await tg.tidegate.stop();
    if (naive) await naive.stop();
    await upstream.process.stop();
    await rm(dbDir, { recursive: true, force: true });
  }

  const metrics = collector.metrics();
  const m = (name: string, path: PathName) => medianOf(metrics, name, path) ?? Number.NaN;
  const ratios: BenchRatio[] = [];
  const rpsRatio = m('chat300-rps', 'tidegate') / m('chat300-rps', 'baseline-naive');
  ratios.push({
    name: 'chat300 req/s: tidegate / naive proxy', value: rpsRatio, target: '>= 1.5', met: rpsRatio >= 1.5,
  });
  ratios.push({
    name: 'chat300 req/s: tidegate / upstream alone',
    value: m('chat300-rps', 'tidegate') / m('chat300-rps', 'upstream'),
  });
  ratios.push({
    name: 'chat300 CPU per request: naive proxy / tidegate',
    value: m('chat300-cpu-us-per-req', 'baseline-naive') / m('chat300-cpu-us-per-req', 'tidegate'),
  });
  const p99 = m('chat300-p99', 'tidegate');
  ratios.push({ name: 'chat300 p99 ms (tidegate)', value: p99, target: '<= 10', met: p99 <= 10 });
  ratios.push({ name: 'chat300 p99: tidegate / naive proxy', value: p99 / m('chat300-p99', 'baseline-naive') });
  const ttfbAdded = m('stream-ttfb-p50', 'tidegate') - m('stream-ttfb-p50', 'upstream');
  ratios.push({
    name: 'stream TTFB p50 added over upstream alone (ms)', value: ttfbAdded, target: '<= 1', met: ttfbAdded <= 1,
  });
  ratios.push({
    name: 'stream TTFB p50 added by naive proxy (ms)',
    value: m('stream-ttfb-p50', 'baseline-naive') - m('stream-ttfb-p50', 'upstream'),
  });
  ratios.push({
    name: 'stream inter-chunk gap p50: tidegate / upstream',
    value: m('stream-gap-p50', 'tidegate') / m('stream-gap-p50', 'upstream'),
  });
  ratios.push({
    name: 'mib req/s: tidegate / naive proxy', value: m('mib-rps', 'tidegate') / m('mib-rps', 'baseline-naive'),
  });
  ratios.push({
    name: 'mib p99: tidegate / naive proxy', value: m('mib-p99', 'tidegate') / m('mib-p99', 'baseline-naive'),
  });
  ratios.push({
    name: 'mib CPU per request: naive proxy / tidegate',
    value: m('mib-cpu-us-per-req', 'baseline-naive') / m('mib-cpu-us-per-req', 'tidegate'),
  });
  // The converted paths, against pass-through through the same tidegate in the same rounds.
  const convertedRps = (path: PathName): number => m('chat300-rps', path) / m('chat300-rps', 'tidegate');
  for (const [path, label] of [
    ['tidegate-responses-chat', 'Responses → chat'], ['tidegate-chat-messages', 'chat → messages'],
  ] as const) {
    const ratio = convertedRps(path);
    ratios.push({
      name: `chat300 req/s converted ${label} / pass-through`, value: ratio, target: '>= 0.8', met: ratio >= 0.8,
    });
    ratios.push({
      name: `chat300 CPU per request: converted ${label} / pass-through`,
      value: m('chat300-cpu-us-per-req', path) / m('chat300-cpu-us-per-req', 'tidegate'),
    });
  }
  const responsesTtfb = m('stream-ttfb-p50', 'tidegate-responses-chat') - m('stream-ttfb-p50', 'upstream');
  ratios.push({
    name: 'stream TTFB p50 added, converted Responses → chat, over the chat upstream alone (ms)',
    value: responsesTtfb, target: '<= 1', met: responsesTtfb <= 1,
  });
  const messagesTtfb = m('stream-ttfb-p50', 'tidegate-chat-messages') - m('stream-ttfb-p50', 'upstream-anthropic');
  ratios.push({
    name: 'stream TTFB p50 added, converted chat → messages, over the Anthropic upstream alone (ms)',
    value: messagesTtfb, target: '<= 1', met: messagesTtfb <= 1,
  });
  // What the conversion itself adds, apart from the rest of tidegate's path (same process, same rounds).
  ratios.push({
    name: 'stream TTFB p50: converted Responses → chat minus pass-through (ms)',
    value: m('stream-ttfb-p50', 'tidegate-responses-chat') - m('stream-ttfb-p50', 'tidegate'),
  });
  ratios.push({
    name: 'stream TTFB p50: converted chat → messages minus pass-through (ms)',
    value: m('stream-ttfb-p50', 'tidegate-chat-messages') - m('stream-ttfb-p50', 'tidegate'),
  });
  const rss = m('rss-growth', 'tidegate');
  ratios.push({ name: 'tidegate RSS end / after warm-up', value: rss, target: '<= 1.1', met: rss <= 1.1 });
  return { scenario: 'gateway', metrics, ratios, notes };
}

export const scenario: BenchScenario = {
  name: 'gateway',
  description:
    'LLM gateway: upstream alone vs naive Node proxy vs tidegate (auth, routing, affinity, breaker, usage log)',
  run,
};

