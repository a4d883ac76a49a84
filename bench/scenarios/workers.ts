/**
 * The workers bench (issue 22): tidegate with 1 worker (one process), 2 workers on SO_REUSEPORT sockets held per
 * slot (the default on Linux: the kernel spreads connections), 2 workers with node:cluster's round-robin (the
 * primary accepts and hands sockets over) and 2 workers with SCHED_NONE (the workers share one listening socket),
 * interleaved round by round:
 *  - idle: CPU per second of the whole fleet (primary + workers) doing nothing;
 *  - chat300: gateway req/s (50 connections, keep-alive) and CPU per request (primary + workers);
 *  - churn: relay connections per second through a forward service (connect, 1 KiB each way, close) and CPU per
 *    connection.
 *  - chat300-limited (2 workers, reuseport): the same with a key that has an rpm limit, so every request is
 *    admitted by the primary (one IPC message per event-loop turn each way): the cost of limits across workers.
 * The load generators and the upstream share the machine's cores with tidegate: read the ratios.
 * `TIDEGATE_BENCH_PIN=<generator cpus>/<tidegate cpus>` (taskset lists, e.g. `0/1` or `0/0-1`) pins this process
 * (autocannon runs in it), the upstream and the churn loaders it forks to the first list and tidegate to the second.
 * `TIDEGATE_BENCH_BASELINE_ROOT=<checkout>` adds that build's one process and 2-worker fleet (`base-…` paths) to the
 * same rounds, for a before/after in one run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchContext, BenchRatio, BenchReport, BenchScenario } from '../types.js';
import { runHttpLoad } from '../lib/autocannon.js';
import { cpuSecondsOf, threadCpuSecondsOf } from '../lib/cpu.js';
import { runChurn, startChurnServer } from '../lib/load.js';
import { MetricCollector, medianOf } from '../lib/metric.js';
import { freePort } from '../lib/ports.js';
import { spawnTidegate, tidegateAvailable, tidegateCliPath, type TidegateProcess } from '../lib/tidegate.js';
import { CLIENT_KEY, chatBody, startUpstream } from './gateway.js';

interface BenchPath {
  readonly path: string;
  readonly workers: number;
  readonly env: Readonly<Record<string, string>>;
  /** Another build (TIDEGATE_BENCH_BASELINE_ROOT), or this one. */
  readonly root?: string;
}

const PATHS: readonly BenchPath[] = [
  { path: 'workers-1', workers: 1, env: {} },
  { path: 'workers-2-reuseport', workers: 2, env: { TIDEGATE_WORKER_LISTEN: 'reuseport' } },
  { path: 'workers-2-rr', workers: 2, env: { TIDEGATE_WORKER_LISTEN: 'cluster', NODE_CLUSTER_SCHED_POLICY: 'rr' } },
  {
    path: 'workers-2-none', workers: 2, env: { TIDEGATE_WORKER_LISTEN: 'cluster', NODE_CLUSTER_SCHED_POLICY: 'none' },
  },
];
/** The fleet whose limited-key run measures the primary's limit hub. */
const LIMITED_ON = 'workers-2-reuseport';

function paths(): BenchPath[] {
  const base = process.env.TIDEGATE_BENCH_BASELINE_ROOT;
  if (base === undefined || base === '') return [...PATHS];
  return [
    ...PATHS,
    { path: 'base-workers-1', workers: 1, env: {}, root: base },
    { path: 'base-workers-2-rr', workers: 2, env: { NODE_CLUSTER_SCHED_POLICY: 'rr' }, root: base },
  ];
}
const CHURN_BYTES = 1024;
/** A key whose rpm never refuses here but makes every request an admission held by the primary. */
const LIMITED_KEY = 'tg-bench-limited';

/** `TIDEGATE_BENCH_PIN` as generator and tidegate CPU lists, or null. */
function pinning(): { generator: string; tidegate: string } | null {
  const pin = process.env.TIDEGATE_BENCH_PIN;
  if (pin === undefined || pin === '') return null;
  const [generator, tidegate] = pin.split('/');
  if (!generator || !tidegate) throw new Error(`TIDEGATE_BENCH_PIN: expected <cpus>/<cpus>, got "${pin}"`);
  return { generator, tidegate };
}

interface Running {
  readonly path: string;
  readonly tidegate: TidegateProcess;
  readonly llm: number;
  readonly fwd: number;
}

/** The primary's pid and every worker's (from GET /workers; none with one process). */
async function pidsOf(r: Running): Promise<number[]> {
  const pids = [r.tidegate.cpuPid];
  const res = await fetch(`http://127.0.0.1:${r.tidegate.adminPort}/workers`);
  if (res.status === 200) {
    const body = (await res.json()) as { slots: { pid: number | null }[] };
    for (const s of body.slots) if (s.pid !== null) pids.push(s.pid);
  } else {
    await res.body?.cancel();
  }
  return pids;
}

async function cpuOf(pids: readonly number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) total += await cpuSecondsOf(pid);
  return total;
}

async function threadCpuOf(pids: readonly number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) total += await threadCpuSecondsOf(pid);
  return total;
}

async function start(path: BenchPath, upstreamPort: number, churnPort: number,
  dbDir: string, cpus: string | undefined): Promise<Running> {
  const llm = await freePort();
  const fwd = await freePort();
  const tidegate = await spawnTidegate({
    label: path.path,
    env: path.env,
    ...(path.root === undefined ? {} : { root: path.root }),
    ...(cpus === undefined ? {} : { cpus }),
    config: {
      workers: path.workers,
      store: { sqlite: join(dbDir, `${path.path}.db`) },
      users: [
        { id: 'bench', keys: [CLIENT_KEY] },
        { id: 'limited', keys: [{ key: LIMITED_KEY, name: 'bench', limits: { rpm: 1_000_000_000 } }] },
      ],
    },
    services: [
      {
        name: 'llm', type: 'gateway', listen: `127.0.0.1:${llm}`, maxConnections: 100_000,
        channels: [{ name: 'primary', kind: 'openai', baseUrl: `http://127.0.0.1:${upstreamPort}/v1`, keys: ['sk'] }],
      },
      { name: 'fwd', type: 'forward', listen: `127.0.0.1:${fwd}`, targets: [`127.0.0.1:${churnPort}`] },
    ],
  });
  return { path: path.path, tidegate, llm, fwd };
}

async function run(context: BenchContext): Promise<BenchReport> {
  if (!tidegateAvailable()) throw new Error(`tidegate is not built at ${tidegateCliPath()}`);
  const notes = [
    'Interleaved round by round on a shared 2-core machine: the load generators, the upstream and the churn server '
      + 'take cores from tidegate, so 2 workers cannot show a 2-core gain here; read ratios.',
    'CPU is the primary plus every worker (user + system, all threads).',
  ];
  const pin = pinning();
  if (pin !== null) {
    // Before anything is forked: the upstream and the churn loaders inherit this affinity.
    execFileSync('taskset', ['-a', '-p', '-c', pin.generator, String(process.pid)], { stdio: 'ignore' });
    notes.push(`Pinned: this process (autocannon), the upstream and the churn loaders on CPUs ${pin.generator}; ` +
      `tidegate (primary and workers) on ${pin.tidegate}.`);
  }
  const duration = context.quick ? 3 : 6;
  const collector = new MetricCollector();
  const upstream = await startUpstream();
  const churn = await startChurnServer(CHURN_BYTES);
  const dbDir = await mkdtemp(join(tmpdir(), 'tidegate-workers-bench-'));
  const running: Running[] = [];
  const idleSeconds = context.quick ? 5 : 10;
  try {
    for (const path of paths()) running.push(await start(path, upstream.port, churn.port, dbDir, pin?.tidegate));
    const body = chatBody(false);
    for (let round = 0; round < context.rounds; round++) {
      for (const r of running) {
        const pids = await pidsOf(r);
        // Idle: what the fleet spends with no traffic (timers, reports), with nanosecond thread times.
        const idle0 = await threadCpuOf(pids);
        await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
        const idle1 = await threadCpuOf(pids);
        collector.add('idle-cpu', r.path, 'ms/s', 'lower', ((idle1 - idle0) / idleSeconds) * 1000);
        let cpu0 = await cpuOf(pids);
        const http = await runHttpLoad({
          url: `http://127.0.0.1:${r.llm}/v1/chat/completions`, connections: 50, duration, method: 'POST', body,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` },
        });
        let cpu1 = await cpuOf(pids);
        collector.add('chat300-rps', r.path, 'req/s', 'higher', http.reqPerSec);
        collector.add('chat300-cpu-per-req', r.path, 'µs', 'lower', ((cpu1 - cpu0) / http.requests) * 1e6);
        collector.add('chat300-errors', r.path, 'count', 'lower', http.errors + http.non2xx);
        cpu0 = await cpuOf(pids);
        const c = await runChurn(r.fwd, 50, duration * 1000, CHURN_BYTES);
        cpu1 = await cpuOf(pids);
        collector.add('churn-conn-per-sec', r.path, 'conn/s', 'higher', c.connPerSec);
        collector.add('churn-cpu-per-conn', r.path, 'µs', 'lower', ((cpu1 - cpu0) / c.connections) * 1e6);
        let rates = `${http.reqPerSec.toFixed(0)} req/s, ${c.connPerSec.toFixed(0)} conn/s, ` +
          `idle ${(((idle1 - idle0) / idleSeconds) * 1000).toFixed(1)} ms/s`;
        if (r.path === LIMITED_ON) {
          cpu0 = await cpuOf(pids);
          const limited = await runHttpLoad({
            url: `http://127.0.0.1:${r.llm}/v1/chat/completions`, connections: 50, duration, method: 'POST', body,
            headers: { 'content-type': 'application/json', authorization: `Bearer ${LIMITED_KEY}` },
          });
          cpu1 = await cpuOf(pids);
          const lim = `${LIMITED_ON}-limited`;
          collector.add('chat300-rps', lim, 'req/s', 'higher', limited.reqPerSec);
          collector.add('chat300-cpu-per-req', lim, 'µs', 'lower', ((cpu1 - cpu0) / limited.requests) * 1e6);
          collector.add('chat300-errors', lim, 'count', 'lower', limited.errors + limited.non2xx);
          rates += `, limited key ${limited.reqPerSec.toFixed(0)} req/s`;
        }
        context.log(`${r.path} round ${round + 1}: ${rates}`);
      }
    }
  } finally {
    for (const r of running) await r.tidegate.stop();
    await churn.load.stop();
    await upstream.process.stop();
    await rm(dbDir, { recursive: true, force: true });
  }
  const metrics = collector.metrics();
  const m = (name: string, path: string): number => medianOf(metrics, name, path) ?? Number.NaN;
  const ratios: BenchRatio[] = [];
  const fleets: [string, string][] = [
    ['workers-2-reuseport', 'workers-1'], ['workers-2-rr', 'workers-1'], ['workers-2-none', 'workers-1'],
  ];
  if (running.some((r) => r.path === 'base-workers-1')) fleets.push(['base-workers-2-rr', 'base-workers-1']);
  for (const [path, one] of fleets) {
    const rps = m('chat300-rps', path) / m('chat300-rps', one);
    const cpuReq = m('chat300-cpu-per-req', path) / m('chat300-cpu-per-req', one);
    const churnRate = m('churn-conn-per-sec', path) / m('churn-conn-per-sec', one);
    const cpuConn = m('churn-cpu-per-conn', path) / m('churn-cpu-per-conn', one);
    ratios.push(
      { name: `chat300 req/s: ${path} / ${one}`, value: rps, target: '>= 1.3 (generator pinned)', met: rps >= 1.3 },
      { name: `chat300 CPU per request: ${path} / ${one}`, value: cpuReq, target: '<= 1.05', met: cpuReq <= 1.05 },
      { name: `churn conn/s: ${path} / ${one}`, value: churnRate },
      {
        name: `churn CPU per connection: ${path} / ${one}`, value: cpuConn, target: '<= 1.05',
        met: cpuConn <= 1.05,
      },
      { name: `idle CPU ms/s: ${path} - ${one}`, value: m('idle-cpu', path) - m('idle-cpu', one) },
    );
  }
  const lim = `${LIMITED_ON}-limited`;
  ratios.push(
    { name: `chat300 req/s: ${lim} / ${LIMITED_ON}`, value: m('chat300-rps', lim) / m('chat300-rps', LIMITED_ON) },
    {
      name: `chat300 CPU per request: ${lim} / ${LIMITED_ON}`,
      value: m('chat300-cpu-per-req', lim) / m('chat300-cpu-per-req', LIMITED_ON),
    },
  );
  return { scenario: 'workers', metrics, ratios, notes };
}

export const scenario: BenchScenario = {
  name: 'workers',
  description: 'gateway chat300, relay churn and idle CPU with 1 and 2 worker processes (reuseport, cluster rr, none)',
  run,
};
