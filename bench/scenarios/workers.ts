/**
 * The workers bench (issue 22): tidegate with 1 worker (one process), 2 workers on SO_REUSEPORT sockets held per
 * slot (the default on Linux: the kernel spreads connections), 2 workers with node:cluster's round-robin (the
 * primary accepts and hands sockets over) and 2 workers with SCHED_NONE (the workers share one listening socket),
 * and a control, `workers-1x2`: two independent single processes, each given half the load (half the connections)
 * by a client of its own, a lower bound of what splitting the load over two event loops costs without any cluster
 * machinery (one client spread over both, as reuseport spreads it, costs what the fleet costs: docs/workers.md).
 * Interleaved round by round, after a warm-up that gives every process as many requests as one process gets (V8
 * optimizes by call counts, so a worker seeing half the traffic needs twice the time):
 *  - idle: CPU per second of the whole fleet (primary + workers) doing nothing;
 *  - chat300: gateway req/s (50 connections, keep-alive) and CPU per request (primary + workers, every thread);
 *  - churn: relay connections per second through a forward service and CPU per connection: wrk `Connection: close`
 *    GETs to nginx (a new connection per request), or without wrk the Node churn client and server (connect, 1 KiB
 *    each way, close), which cost 80–100 µs of CPU per connection together (2–2.5× tidegate's own) and paced the
 *    churn at what they got of core 0, so each of two workers ran at half that rate: one wake-up per few events.
 *  - chat300-limited (2 workers, reuseport): the same with a key that has an rpm limit, so every request is
 *    admitted by the primary (one IPC message per event-loop turn each way): the cost of limits across workers.
 * The load generator and the upstream are measured too (`chat300-gen-*`, `churn-gen-*`): on 2 cores what they use
 * is taken from a second worker. With wrk and nginx installed they are wrk and nginx (~15 µs of CPU per request
 * together here, ~32 per churn connection), else autocannon and the Node upstream (~40 µs: 0.7 of tidegate's own
 * cost per request, so at one process's rate they alone take most of the second core) and the Node churn client
 * and server; `TIDEGATE_BENCH_LOAD=autocannon` forces the latter.
 * `TIDEGATE_BENCH_PIN=<generator cpus>/<tidegate cpus>` (taskset lists, e.g. `0/1` or `0/0-1`) pins this process
 * (autocannon runs in it), wrk, the upstream and the churn loaders it forks to the first list and tidegate to the
 * second.
 * `TIDEGATE_BENCH_BASELINE_ROOT=<checkout>` adds that build's one process and 2-worker fleet (`base-…` paths) to the
 * same rounds, for a before/after in one run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchContext, BenchRatio, BenchReport, BenchScenario } from '../types.js';
import { runHttpLoad } from '../lib/autocannon.js';
import { lightLoadAvailable, runWrkClose, runWrkPost, startNginxUpstream } from '../lib/light-load.js';
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
  /** Two independent processes of `workers` each, each given half the load (the control). */
  readonly split?: boolean;
}

const PATHS: readonly BenchPath[] = [
  { path: 'workers-1', workers: 1, env: {} },
  { path: 'workers-1x2', workers: 1, env: {}, split: true },
  { path: 'workers-2-reuseport', workers: 2, env: { TIDEGATE_WORKER_LISTEN: 'reuseport' } },
  { path: 'workers-2-rr', workers: 2, env: { TIDEGATE_WORKER_LISTEN: 'cluster', NODE_CLUSTER_SCHED_POLICY: 'rr' } },
  // Reuseport steered by the CPU that handles the SYN (cbpf), the workers unpinned / each pinned to its CPU.
  {
    path: 'workers-2-steer', workers: 2, env: { TIDEGATE_WORKER_LISTEN: 'reuseport', TIDEGATE_REUSEPORT_STEER: 'cpu' },
  },
  { path: 'workers-2-pin', workers: 2, env: { TIDEGATE_WORKER_LISTEN: 'reuseport', TIDEGATE_WORKER_PIN: '1' } },
  {
    path: 'workers-2-steer-pin', workers: 2,
    env: { TIDEGATE_WORKER_LISTEN: 'reuseport', TIDEGATE_REUSEPORT_STEER: 'cpu', TIDEGATE_WORKER_PIN: '1' },
  },
  {
    path: 'workers-2-none', workers: 2, env: { TIDEGATE_WORKER_LISTEN: 'cluster', NODE_CLUSTER_SCHED_POLICY: 'none' },
  },
];
/** The fleet whose limited-key run measures the primary's limit hub. */
const LIMITED_ON = 'workers-2-reuseport';

/** The paths to run: `--paths` picks among them (one process is always run: every ratio is to it). */
function paths(context: BenchContext): BenchPath[] {
  const wanted = (p: BenchPath): boolean =>
    context.paths === undefined || p.path === 'workers-1' || context.paths.includes(p.path) ||
    (p.path === 'base-workers-1' && context.paths.some((x) => x.startsWith('base-')));
  const base = process.env.TIDEGATE_BENCH_BASELINE_ROOT;
  if (base === undefined || base === '') return PATHS.filter(wanted);
  return [
    ...PATHS,
    { path: 'base-workers-1', workers: 1, env: {}, root: base },
    // That build's default listening (reuseport where it has it).
    { path: 'base-workers-2', workers: 2, env: {}, root: base },
  ].filter(wanted);
}
const CHURN_BYTES = 1024;
/** Connections of chat300 and concurrency of churn, split between the instances of the split control. */
const CONNECTIONS = 50;
/** Warm-up per path: chat and churn seconds for each process's worth of traffic (× workers per instance). */
const WARM_CHAT_S = 4;
const WARM_CHURN_S = 2;
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

/** One tidegate of a path (two for the split control). */
interface Instance {
  readonly tidegate: TidegateProcess;
  readonly llm: number;
  readonly fwd: number;
}

interface Running {
  readonly path: string;
  readonly workers: number;
  readonly instances: Instance[];
}

/** Every instance's primary pid and every worker's (from GET /workers; none with one process). */
async function pidsOf(r: Running): Promise<number[]> {
  const pids: number[] = [];
  for (const i of r.instances) {
    pids.push(i.tidegate.cpuPid);
    const res = await fetch(`http://127.0.0.1:${i.tidegate.adminPort}/workers`);
    if (res.status === 200) {
      const body = (await res.json()) as { slots: { pid: number | null }[] };
      for (const s of body.slots) if (s.pid !== null) pids.push(s.pid);
    } else {
      await res.body?.cancel();
    }
  }
  return pids;
}

/** The chat load: wrk (and nginx upstream) when installed, else autocannon in this process. */
interface ChatLoad {
  readonly kind: 'wrk' | 'autocannon';
  /** The upstream's pids (its CPU is the instrument's, not tidegate's). */
  upstreamPids(): Promise<number[]>;
}

interface ChatResult {
  readonly requests: number;
  readonly reqPerSec: number;
  readonly failures: number;
  /** The load generator's CPU seconds. */
  readonly genCpu: number;
}

async function chatOnce(
  load: ChatLoad, port: number, key: string, connections: number, seconds: number, body: string,
): Promise<ChatResult> {
  const url = `http://127.0.0.1:${port}/v1/chat/completions`;
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
  if (load.kind === 'wrk') {
    const w = await runWrkPost(url, connections, seconds, body, headers);
    return { requests: w.requests, reqPerSec: w.reqPerSec, failures: w.failures, genCpu: w.cpuSeconds };
  }
  const cpu0 = process.cpuUsage();
  const a = await runHttpLoad({ url, connections, duration: seconds, method: 'POST', body, headers });
  const cpu = process.cpuUsage(cpu0);
  return {
    requests: a.requests, reqPerSec: a.reqPerSec, failures: a.errors + a.non2xx, genCpu: (cpu.user + cpu.system) / 1e6,
  };
}

/** chat300 on every instance of a path at once, the connections split between them; summed. */
async function chat(
  load: ChatLoad, r: Running, key: string, seconds: number, body: string,
): Promise<ChatResult> {
  const per = Math.round(CONNECTIONS / r.instances.length);
  const all = await Promise.all(r.instances.map((i) => chatOnce(load, i.llm, key, per, seconds, body)));
  return {
    requests: all.reduce((s, x) => s + x.requests, 0), reqPerSec: all.reduce((s, x) => s + x.reqPerSec, 0),
    failures: all.reduce((s, x) => s + x.failures, 0), genCpu: all.reduce((s, x) => s + x.genCpu, 0),
  };
}

interface ChurnResult {
  readonly connections: number;
  readonly connPerSec: number;
  readonly failures: number;
  /** The load generator's CPU seconds (wrk's; the Node churn client's is not taken). */
  readonly genCpu: number;
}

/**
 * Churn on every instance at once, the concurrency split between them; connections summed. With wrk: `Connection:
 * close` GETs through the forward service to nginx (a new connection per request); else the Node churn client
 * (connect, 1 KiB each way, close) against the Node churn server.
 */
async function churnAll(light: boolean, r: Running, seconds: number): Promise<ChurnResult> {
  const per = Math.round(CONNECTIONS / r.instances.length);
  if (light) {
    const all = await Promise.all(r.instances.map((i) =>
      runWrkClose(`http://127.0.0.1:${i.fwd}/`, per, Math.max(1, Math.round(seconds)))));
    return {
      connections: all.reduce((s, w) => s + w.requests, 0), connPerSec: all.reduce((s, w) => s + w.reqPerSec, 0),
      failures: all.reduce((s, w) => s + w.failures, 0), genCpu: all.reduce((s, w) => s + w.cpuSeconds, 0),
    };
  }
  const all = await Promise.all(r.instances.map((i) => runChurn(i.fwd, per, seconds * 1000, CHURN_BYTES)));
  return {
    connections: all.reduce((s, c) => s + c.connections, 0), connPerSec: all.reduce((s, c) => s + c.connPerSec, 0),
    failures: all.reduce((s, c) => s + c.errors, 0), genCpu: Number.NaN,
  };
}

async function cpuOf(pids: readonly number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) total += await cpuSecondsOf(pid);
  return total;
}

/** CPU seconds of each pid (a fleet's primary first, then its workers). */
async function cpusOf(pids: readonly number[]): Promise<number[]> {
  const out: number[] = [];
  for (const pid of pids) out.push(await cpuSecondsOf(pid));
  return out;
}

/** The busiest worker's share of the workers' CPU between two `cpusOf` readings (the primary, first, left out). */
function busiestShare(before: readonly number[], after: readonly number[]): number {
  let sum = 0;
  let max = 0;
  for (let i = 1; i < before.length && i < after.length; i++) {
    const d = after[i]! - before[i]!;
    sum += d;
    max = Math.max(max, d);
  }
  return sum > 0 ? max / sum : Number.NaN;
}

async function threadCpuOf(pids: readonly number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) total += await threadCpuSecondsOf(pid);
  return total;
}

async function startInstance(path: BenchPath, label: string, upstreamPort: number, churnPort: number,
  dbDir: string, cpus: string | undefined): Promise<Instance> {
  const llm = await freePort();
  const fwd = await freePort();
  const tidegate = await spawnTidegate({
    label,
    env: path.env,
    ...(path.root === undefined ? {} : { root: path.root }),
    ...(cpus === undefined ? {} : { cpus }),
    config: {
      workers: path.workers,
      store: { sqlite: join(dbDir, `${label}.db`) },
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
  return { tidegate, llm, fwd };
}

async function start(path: BenchPath, upstreamPort: number, churnPort: number,
  dbDir: string, cpus: string | undefined): Promise<Running> {
  const instances = [await startInstance(path, path.path, upstreamPort, churnPort, dbDir, cpus)];
  if (path.split) instances.push(await startInstance(path, `${path.path}-b`, upstreamPort, churnPort, dbDir, cpus));
  return { path: path.path, workers: path.workers, instances };
}

async function run(context: BenchContext): Promise<BenchReport> {
  if (!tidegateAvailable()) throw new Error(`tidegate is not built at ${tidegateCliPath()}`);
  const light = process.env.TIDEGATE_BENCH_LOAD !== 'autocannon' && await lightLoadAvailable();
  const notes = [
    'Interleaved round by round on a shared 2-core machine: the load generator, the upstream and the churn server '
      + 'take cores from tidegate, so 2 workers can only use what they leave; read ratios.',
    'CPU is the primary plus every worker (user + system, all threads). Every path is warmed first with as many '
      + 'requests and connections per process as one process gets.',
    light
      ? 'chat300 load: wrk (one thread) against an nginx upstream; churn: wrk with `Connection: close` through the '
        + 'forward service to the same nginx (a new connection per request).'
      : 'chat300 load: autocannon in the bench process against the Node upstream; churn: the Node churn client and '
        + 'server (connect, 1 KiB each way, close) (wrk or nginx not installed, or TIDEGATE_BENCH_LOAD=autocannon).',
    'chat300-gen-cpu-per-req: the generator plus the upstream; chat300-gen-cores: the cores they kept busy '
      + '(churn-gen-…: the same for churn, with wrk).',
    'workers-1x2: two independent single processes, each with half the connections and its own client: a lower '
      + 'bound of what splitting the load costs (each process gets its client\'s bursts whole, where reuseport '
      + 'splits every burst; docs/workers.md, "Churn CPU per connection").',
  ];
  const pin = pinning();
  if (pin !== null) {
    // Before anything is forked: wrk, the upstream and the churn loaders inherit this affinity.
    execFileSync('taskset', ['-a', '-p', '-c', pin.generator, String(process.pid)], { stdio: 'ignore' });
    notes.push(`Pinned: this process, the chat load, the upstream and the churn loaders on CPUs ${pin.generator}; ` +
      `tidegate (primary and workers) on ${pin.tidegate}.`);
  }
  const duration = context.quick ? 3 : 6;
  const collector = new MetricCollector();
  const nginx = light ? await startNginxUpstream() : null;
  const nodeUpstream = light ? null : await startUpstream();
  const upstreamPort = nginx?.port ?? nodeUpstream!.port;
  const load: ChatLoad = {
    kind: light ? 'wrk' : 'autocannon',
    upstreamPids: () => (nginx !== null ? nginx.pids() : Promise.resolve([nodeUpstream!.process.pid])),
  };
  // The churn target: nginx when wrk loads (it answers any GET), else the Node churn server.
  const churn = light ? null : await startChurnServer(CHURN_BYTES);
  const churnPort = churn?.port ?? upstreamPort;
  const dbDir = await mkdtemp(join(tmpdir(), 'tidegate-workers-bench-'));
  const running: Running[] = [];
  const idleSeconds = context.quick ? 5 : 10;
  const warm = context.quick ? 0.5 : 1;
  try {
    const body = chatBody(false);
    for (const path of paths(context)) {
      const r = await start(path, upstreamPort, churnPort, dbDir, pin?.tidegate);
      running.push(r);
      // Each process (each worker) gets the requests and connections one process gets in its warm-up.
      const processes = r.workers * r.instances.length;
      await chat(load, r, CLIENT_KEY, WARM_CHAT_S * warm * processes, body);
      await churnAll(light, r, WARM_CHURN_S * warm * processes);
      if (r.path === LIMITED_ON) await chat(load, r, LIMITED_KEY, WARM_CHAT_S * warm * processes, body);
    }
    for (let round = 0; round < context.rounds; round++) {
      for (const r of running) {
        const pids = await pidsOf(r);
        // Idle: what the fleet spends with no traffic (timers, reports), with nanosecond thread times.
        const idle0 = await threadCpuOf(pids);
        await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
        const idle1 = await threadCpuOf(pids);
        collector.add('idle-cpu', r.path, 'ms/s', 'lower', ((idle1 - idle0) / idleSeconds) * 1000);
        const up = await load.upstreamPids();
        let up0 = await threadCpuOf(up);
        const chat0 = await cpusOf(pids);
        let cpu0 = await cpuOf(pids);
        let t0 = performance.now();
        const http = await chat(load, r, CLIENT_KEY, duration, body);
        let cpu1 = await cpuOf(pids);
        if (r.workers > 1) {
          const share = busiestShare(chat0, await cpusOf(pids));
          collector.add('chat300-busiest-worker-share', r.path, 'share', 'lower', share);
        }
        let up1 = await threadCpuOf(up);
        let seconds = (performance.now() - t0) / 1000;
        collector.add('chat300-rps', r.path, 'req/s', 'higher', http.reqPerSec);
        collector.add('chat300-cpu-per-req', r.path, 'µs', 'lower', ((cpu1 - cpu0) / http.requests) * 1e6);
        collector.add('chat300-errors', r.path, 'count', 'lower', http.failures);
        collector.add('chat300-gen-cpu-per-req', r.path, 'µs', 'lower',
          ((http.genCpu + up1 - up0) / http.requests) * 1e6);
        collector.add('chat300-gen-cores', r.path, 'cores', 'lower', (http.genCpu + up1 - up0) / seconds);
        collector.add('chat300-tidegate-cores', r.path, 'cores', 'higher', (cpu1 - cpu0) / seconds);
        let rates = `${http.reqPerSec.toFixed(0)} req/s (tidegate ${((cpu1 - cpu0) / seconds).toFixed(2)} cores, ` +
          `load + upstream ${((http.genCpu + up1 - up0) / seconds).toFixed(2)})`;
        up0 = await threadCpuOf(up);
        const each0 = await cpusOf(pids);
        cpu0 = await cpuOf(pids);
        t0 = performance.now();
        const c = await churnAll(light, r, duration);
        cpu1 = await cpuOf(pids);
        const each1 = await cpusOf(pids);
        up1 = await threadCpuOf(up);
        seconds = (performance.now() - t0) / 1000;
        // How evenly the workers shared the load (steering by CPU may not spread it).
        if (r.workers > 1) {
          collector.add('churn-busiest-worker-share', r.path, 'share', 'lower', busiestShare(each0, each1));
        }
        collector.add('churn-conn-per-sec', r.path, 'conn/s', 'higher', c.connPerSec);
        collector.add('churn-cpu-per-conn', r.path, 'µs', 'lower', ((cpu1 - cpu0) / c.connections) * 1e6);
        collector.add('churn-errors', r.path, 'count', 'lower', c.failures);
        if (light) {
          const gen = c.genCpu + up1 - up0;
          collector.add('churn-gen-cpu-per-conn', r.path, 'µs', 'lower', (gen / c.connections) * 1e6);
          collector.add('churn-gen-cores', r.path, 'cores', 'lower', gen / seconds);
        }
        const idleMs = ((idle1 - idle0) / idleSeconds) * 1000;
        rates += `, ${c.connPerSec.toFixed(0)} conn/s, idle ${idleMs.toFixed(1)} ms/s`;
        if (r.path === LIMITED_ON) {
          up0 = await threadCpuOf(up);
          cpu0 = await cpuOf(pids);
          t0 = performance.now();
          const limited = await chat(load, r, LIMITED_KEY, duration, body);
          cpu1 = await cpuOf(pids);
          up1 = await threadCpuOf(up);
          seconds = (performance.now() - t0) / 1000;
          const lim = `${LIMITED_ON}-limited`;
          collector.add('chat300-rps', lim, 'req/s', 'higher', limited.reqPerSec);
          collector.add('chat300-cpu-per-req', lim, 'µs', 'lower', ((cpu1 - cpu0) / limited.requests) * 1e6);
          collector.add('chat300-errors', lim, 'count', 'lower', limited.failures);
          collector.add('chat300-gen-cpu-per-req', lim, 'µs', 'lower',
            ((limited.genCpu + up1 - up0) / limited.requests) * 1e6);
          collector.add('chat300-gen-cores', lim, 'cores', 'lower', (limited.genCpu + up1 - up0) / seconds);
          collector.add('chat300-tidegate-cores', lim, 'cores', 'higher', (cpu1 - cpu0) / seconds);
          rates += `, limited key ${limited.reqPerSec.toFixed(0)} req/s`;
        }
        context.log(`${r.path} round ${round + 1}: ${rates}`);
      }
    }
  } finally {
    for (const r of running) for (const i of r.instances) await i.tidegate.stop();
    await churn?.load.stop();
    await nginx?.stop();
    await nodeUpstream?.process.stop();
    await rm(dbDir, { recursive: true, force: true });
  }
  const metrics = collector.metrics();
  const m = (name: string, path: string): number => medianOf(metrics, name, path) ?? Number.NaN;
  const ratios: BenchRatio[] = [];
  const fleets: [string, string][] = [
    ['workers-2-reuseport', 'workers-1'], ['workers-2-rr', 'workers-1'], ['workers-2-none', 'workers-1'],
    ['workers-2-steer', 'workers-1'], ['workers-2-steer-pin', 'workers-1'], ['workers-2-pin', 'workers-1'],
    ['workers-1x2', 'workers-1'],
  ];
  if (running.some((r) => r.path === 'base-workers-1')) fleets.push(['base-workers-2', 'base-workers-1']);
  for (const [path, one] of fleets) {
    if (!running.some((r) => r.path === path) || !running.some((r) => r.path === one)) continue;
    const rps = m('chat300-rps', path) / m('chat300-rps', one);
    const cpuReq = m('chat300-cpu-per-req', path) / m('chat300-cpu-per-req', one);
    const churnRate = m('churn-conn-per-sec', path) / m('churn-conn-per-sec', one);
    const cpuConn = m('churn-cpu-per-conn', path) / m('churn-cpu-per-conn', one);
    if (path === 'workers-1x2') {
      // The control has no target: it says what splitting the load costs by itself.
      ratios.push(
        { name: `chat300 req/s: ${path} / ${one}`, value: rps },
        { name: `chat300 CPU per request: ${path} / ${one}`, value: cpuReq },
        { name: `churn conn/s: ${path} / ${one}`, value: churnRate },
        { name: `churn CPU per connection: ${path} / ${one}`, value: cpuConn },
      );
      continue;
    }
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
  if (running.some((r) => r.path === LIMITED_ON)) ratios.push(
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
  description: 'gateway chat300, relay churn and idle CPU with 1 and 2 worker processes (reuseport, cluster rr, ' +
    'none) and two independent processes',
  run,
};
