/**
 * Connection churn the way wrk sees it: `wrk -H 'Connection: close'` through a forward service to nginx, against
 * HAProxy and the minimal C splice relay in front of the same nginx, interleaved round by round. Every request is a
 * new connection; the relay's CPU (all threads, /proc/<pid>/stat) per connection is the robust figure.
 *
 *   node dist/bench/relay-churn-wrk.js [--rounds 3] [--seconds 5] [--connections 50]
 *     [--paths tidegate-native,haproxy,baseline-splice-c]
 *
 * `tidegate-native-addonaccept` / `tidegate-native-nodeaccept`: the native engine with `TIDEGATE_NATIVE_ACCEPT=1` / `0`
 * (the addon accepts / Node accepts), for the A/B; `tidegate-native` is the default (the addon accepts).
 * `tidegate-native-nogrants`: the addon accepts but decides nothing ahead (`TIDEGATE_NATIVE_GRANTS=0`).
 * `tidegate-native-base`: another build's default native path, for a before / after in the same rounds (set
 * `TIDEGATE_BENCH_BASELINE_ROOT` to its checkout, built with its addon).
 * `tidegate-native@NAME=VALUE+NAME2=VALUE2` (any tidegate path): that path with this environment, e.g. a knob against
 * the same build without it in the same rounds.
 * `haproxy-1t`: HAProxy with `nbthread 1`, one thread like tidegate's one relay thread (`haproxy` runs one thread per
 * core, its default), to tell a per-connection cost from a share of the scheduler when conn/s differ.
 *
 * Beside the relay's CPU, each window also reports the peers' and the machine's, per connection: wrk's (its user +
 * system time, from the shell that runs it), nginx's (master and worker, /proc/<pid>/stat) and how often it slept
 * (voluntary switches, /proc/<pid>/status), the whole machine's busy time and of it softirq (/proc/stat), the
 * machine's idle share and context switches, TCP segments sent and delayed ACKs (/proc/net/snmp, /proc/net/netstat;
 * every hop is loopback, so both hops' segments are in it), and wrk's p50 / p99. When the machine is saturated,
 * conn/s is its capacity over the whole system's CPU per connection, and these say who pays it (other processes
 * count too: read the machine's figures on a quiet machine only), and how often the relay's threads were preempted
 * (involuntary switches, /proc/<pid>/task/<tid>/status).
 *
 * Needs wrk and nginx (apt-get install wrk nginx); nginx runs in the foreground from a temp config on 127.0.0.1.
 */
import { readFile } from 'node:fs/promises';
import { flagValue } from './lib/args.js';
import { startHaproxy, startSpliceRelay } from './lib/baselines.js';
import { clockTicksPerSecond, cpuSecondsOf, cpuSecondsOfAll, parseProcStatCpuSeconds } from './lib/cpu.js';
import { startNginx } from './lib/nginx.js';
import { freePort } from './lib/ports.js';
import { runCommand } from './lib/process.js';
import { readSystemCounters, systemDelta } from './lib/system-counters.js';
import { switchesOf } from './lib/thread-switches.js';
import { parseEnvAssignments, spawnTidegate } from './lib/tidegate.js';
import { median } from './stats.js';

interface Running {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

async function startPath(fullPath: string, nginxPort: number): Promise<Running> {
  const at = fullPath.indexOf('@');
  const path = at < 0 ? fullPath : fullPath.slice(0, at);
  if (path === 'tidegate-native' || path === 'tidegate-js' || path.startsWith('tidegate-native-')) {
    const port = await freePort();
    const env: Record<string, string> = path === 'tidegate-js' ? { TIDEGATE_RELAY: 'js' } : {};
    if (at >= 0) Object.assign(env, parseEnvAssignments(fullPath.slice(at + 1).split('+')));
    if (path === 'tidegate-native-nodeaccept') env['TIDEGATE_NATIVE_ACCEPT'] = '0';
    if (path === 'tidegate-native-addonaccept') env['TIDEGATE_NATIVE_ACCEPT'] = '1';
    if (path === 'tidegate-native-nogrants') env['TIDEGATE_NATIVE_GRANTS'] = '0';
    let root: string | undefined;
    if (path === 'tidegate-native-base') {
      root = process.env['TIDEGATE_BENCH_BASELINE_ROOT'];
      if (root === undefined || root === '') throw new Error(`${path}: set TIDEGATE_BENCH_BASELINE_ROOT`);
    }
    const tg = await spawnTidegate({
      services: [{ name: 'fwd', type: 'forward', listen: `127.0.0.1:${port}`, targets: [`127.0.0.1:${nginxPort}`] }],
      env,
      label: path,
      ...(root === undefined ? {} : { root }),
    });
    return { port, pid: tg.cpuPid, stop: () => tg.stop() };
  }
  const running = path === 'haproxy' ? await startHaproxy([nginxPort])
    : path === 'haproxy-1t' ? await startHaproxy([nginxPort], { threads: 1, label: path })
    : await startSpliceRelay([nginxPort]);
  return { port: running.ports[0] as number, pid: running.cpuPid, stop: () => running.stop() };
}

/** CPU seconds of a process's main thread alone (Node's event loop thread, where the churn cost lives). */
async function mainThreadCpuSecondsOf(pid: number): Promise<number> {
  return parseProcStatCpuSeconds(await readFile(`/proc/${pid}/task/${pid}/stat`, 'utf8'), clockTicksPerSecond());
}

/** A wrk latency figure (`19.00us`, `1.51ms`, `2.00s`) in ms. */
function latencyMs(text: string | undefined): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text ?? '');
  if (m === null) return Number.NaN;
  const unit = m[2] === 'us' ? 0.001 : m[2] === 'ms' ? 1 : 1000;
  return Number(m[1]) * unit;
}

/** CPU seconds of the children the shell waited for (the second line of `times`: user, then system). */
function childCpuSeconds(timesOutput: string): number {
  const lines = timesOutput.trim().split('\n');
  const fields = (lines[lines.length - 1] ?? '').trim().split(/\s+/);
  let total = 0;
  for (const f of fields) {
    const m = /^(\d+)m([\d.]+)s$/.exec(f);
    if (m === null) return Number.NaN;
    total += Number(m[1]) * 60 + Number(m[2]);
  }
  return total;
}

const METRICS = [
  'connPerSec', 'cpuMsPerConn', 'mainCpuMsPerConn', 'wrkCpuMsPerConn', 'nginxCpuMsPerConn', 'nginxSleepsPerConn',
  'systemCpuMsPerConn', 'softirqCpuMsPerConn', 'idlePct', 'switchesPerConn', 'segsPerConn', 'delayedAcksPerConn',
  'p50Ms', 'p99Ms', 'preemptionsPerConn',
] as const;
type Metric = (typeof METRICS)[number];

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const rounds = Number(flagValue(argv, '--rounds') ?? 3);
  const seconds = Number(flagValue(argv, '--seconds') ?? 5);
  const connections = Number(flagValue(argv, '--connections') ?? 50);
  const paths = (flagValue(argv, '--paths') ?? 'tidegate-native,haproxy,baseline-splice-c').split(',');
  const nginx = await startNginx('nginx', [], 'return 200 "ok\\n";');
  const running = new Map<string, Running>();
  const samples = new Map<string, Record<Metric, number[]>>();
  try {
    for (const path of paths) {
      running.set(path, await startPath(path, nginx.port));
      const empty = {} as Record<Metric, number[]>;
      for (const m of METRICS) empty[m] = [];
      samples.set(path, empty);
    }
    const nginxPids = await nginx.pids();
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < paths.length; k++) {
        const path = paths[(round + k) % paths.length] as string;
        const relay = running.get(path) as Running;
        const cpu0 = await cpuSecondsOf(relay.pid);
        const main0 = await mainThreadCpuSecondsOf(relay.pid);
        const nginx0 = await cpuSecondsOfAll(nginxPids);
        const nginxSleeps0 = (await switchesOf(nginxPids)).voluntary;
        const preempted0 = (await switchesOf([relay.pid])).involuntary;
        const sys0 = await readSystemCounters();
        // The shell reports wrk's own CPU time (`times`) after it exits; its stdout is wrk's, then that line.
        const wrk = await runCommand('/bin/sh', ['-c', 'wrk "$@"; times', 'sh',
          '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-H', 'Connection: close',
          `http://127.0.0.1:${relay.port}/`,
        ]);
        const sys1 = await readSystemCounters();
        const nginx1 = await cpuSecondsOfAll(nginxPids);
        const nginxSleeps1 = (await switchesOf(nginxPids)).voluntary;
        const preempted1 = (await switchesOf([relay.pid])).involuntary;
        const cpu1 = await cpuSecondsOf(relay.pid);
        const main1 = await mainThreadCpuSecondsOf(relay.pid);
        const requests = Number(/(\d+) requests in/.exec(wrk.stdout)?.[1] ?? 0);
        const rate = Number(/Requests\/sec:\s*([\d.]+)/.exec(wrk.stdout)?.[1] ?? 0);
        if (requests === 0) throw new Error(`${path}: wrk made no requests: ${wrk.stdout}${wrk.stderr}`);
        const sys = systemDelta(sys0, sys1);
        const perConn = (seconds: number): number => (seconds * 1000) / requests;
        const got: Record<Metric, number> = {
          connPerSec: rate,
          cpuMsPerConn: perConn(cpu1 - cpu0),
          mainCpuMsPerConn: perConn(main1 - main0),
          wrkCpuMsPerConn: perConn(childCpuSeconds(wrk.stdout)),
          nginxCpuMsPerConn: perConn(nginx1 - nginx0),
          nginxSleepsPerConn: (nginxSleeps1 - nginxSleeps0) / requests,
          systemCpuMsPerConn: perConn(sys.busySeconds),
          softirqCpuMsPerConn: perConn(sys.softirqSeconds),
          idlePct: (100 * sys.idleSeconds) / (sys.idleSeconds + sys.busySeconds),
          switchesPerConn: sys.contextSwitches / requests,
          segsPerConn: (sys.tcp.get('Tcp.OutSegs') ?? Number.NaN) / requests,
          delayedAcksPerConn: (sys.tcp.get('TcpExt.DelayedACKs') ?? Number.NaN) / requests,
          p50Ms: latencyMs(/^\s*50%\s+(\S+)/m.exec(wrk.stdout)?.[1]),
          p99Ms: latencyMs(/^\s*99%\s+(\S+)/m.exec(wrk.stdout)?.[1]),
          preemptionsPerConn: (preempted1 - preempted0) / requests,
        };
        const s = samples.get(path)!;
        for (const m of METRICS) s[m].push(got[m]);
        process.stderr.write(`round ${round + 1} ${path}: ${Math.round(rate)} conn/s, CPU-ms/conn ` +
          `${got.cpuMsPerConn.toFixed(4)} (main thread ${got.mainCpuMsPerConn.toFixed(4)}), ` +
          `wrk ${got.wrkCpuMsPerConn.toFixed(4)}, nginx ${got.nginxCpuMsPerConn.toFixed(4)} ` +
          `(${got.nginxSleepsPerConn.toFixed(2)} sleeps/conn), system ${got.systemCpuMsPerConn.toFixed(4)} ` +
          `(softirq ${got.softirqCpuMsPerConn.toFixed(4)}), idle ${got.idlePct.toFixed(1)} %, ` +
          `${got.switchesPerConn.toFixed(2)} switches/conn, ${got.segsPerConn.toFixed(2)} segs/conn, ` +
          `delayed ACKs ${got.delayedAcksPerConn.toFixed(3)}/conn, p50 ${got.p50Ms.toFixed(3)} ms, ` +
          `p99 ${got.p99Ms.toFixed(3)} ms, relay preempted ${got.preemptionsPerConn.toFixed(3)}/conn\n`);
      }
    }
  } finally {
    for (const relay of running.values()) await relay.stop().catch(() => undefined);
    await nginx.stop();
  }
  const out: Record<string, Record<Metric, number>> = {};
  for (const [path, s] of samples) {
    const medians = {} as Record<Metric, number>;
    for (const m of METRICS) medians[m] = median(s[m]);
    out[path] = medians;
  }
  process.stdout.write(JSON.stringify({ rounds, seconds, connections, medians: out }) + '\n');
}

await main();
