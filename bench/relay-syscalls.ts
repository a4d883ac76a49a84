/**
 * Syscalls and wake-ups per GiB of splice relays under many streams (the built-in source -> relay -> sink of the
 * relay bench, C or Node as there: bench/lib/stream-load.ts): tidegate's native engine, HAProxy (tuned as in the
 * bench) and the minimal C splice relay.
 * Counts, unlike throughput, hardly move with the machine's load, so they stay readable on a shared machine.
 *
 *   node dist/bench/relay-syscalls.js [--streams 100,1000] [--seconds 3] [--paths tidegate-native,haproxy,...]
 *     [--profile DIR]   also `perf record -g` 2 s of each run into DIR/<path>-<streams>.perf.data
 *     [--no-trace]      count no syscalls (their tracepoints cost the relay a little per call)
 *     [--rounds N]      repeat the whole set N times (interleaved)
 *     [--pin R/L]       pin the relay's threads to CPUs R and the source and sink to L (taskset lists, e.g. 1/0):
 *                       where the relay runs beside its load moves its CPU per GiB more than any relay change
 *     [--iperf3]        one iperf3 stream per path instead of the built-in load (the relay bench's single-stream
 *                       workload); `--streams` is ignored, the counted window is the iperf3 run itself; with
 *                       `--pin`, both iperf3 ends run on the first CPU of L (iperf3 -A)
 * Paths: also `tidegate-native-base`, the build at TIDEGATE_BENCH_BASELINE_ROOT (before / after in one run),
 * `<tidegate path>@NAME=VALUE+NAME2=VALUE2`: the same path with that environment (an A/B of a knob in one run, e.g.
 * `tidegate-native@TIDEGATE_RELAY_THREADS=2`), and `haproxy-1t`, HAProxy with `nbthread 1` (one thread like the
 * addon's one loop).
 * `hops`: per hop (source -> relay, relay -> sink) the mean data segment and the ACKs per GiB, and at the window's
 * end the bytes queued and the receive buffers, from `ss -tmi` of the relay's sockets. `netPerGiB` and
 * `tcpMemPages`: whether the kernel pruned and dropped under TCP memory pressure in the window (native/README.md,
 * "the two modes"), `own` the transfer's own resends and drops, `kind` the window's kind by the relay bench's rule
 * (bench/lib/tcp-pressure.ts): compare a window with windows of its own kind. `receivedOnRelay`: the share of
 * each hop's data segments the kernel received on the relay's threads, i.e. neighbours' TCP work charged to the relay
 * (bench/lib/softirq-charge.ts); at 100 streams it sets the relay's CPU per GiB more than the relay's own calls.
 *
 * Per path and stream count: `perf stat -e syscalls:sys_enter_*` on the relay process over the window, voluntary
 * context switches of each thread from /proc (a voluntary switch is one sleep, i.e. one wake-up), and one
 * `perf record` of splice and fcntl returns from before the first connection: the histogram of splice sizes and of
 * the pipe sizes F_SETPIPE_SZ granted. Needs perf with tracepoints (root or perf_event_paranoid <= -1).
 */
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStreamLoad, type StreamLoad } from './lib/stream-load.js';
import { sleep, freePort } from './lib/ports.js';
import { ManagedProcess, runCommand } from './lib/process.js';
import { startHaproxy, startSpliceRelay, type RunningPath } from './lib/baselines.js';
import { spawnTidegate, parseEnvAssignments, type TidegateProcess } from './lib/tidegate.js';
import { startIperf3Server, runIperf3 } from './lib/iperf3.js';
import { flagValue } from './lib/args.js';
import { cpuSecondsOf, cpuSecondsOfAll, threadCpuSecondsOf } from './lib/cpu.js';
import { PRESSURE_COUNTERS, readTcpPressure, tcpPressureWindow } from './lib/tcp-pressure.js';
import { switchesOf, threadSwitchesOf } from './lib/thread-switches.js';
import { countReceivedOnRelay } from './lib/softirq-charge.js';
import { fitCharge, type ChargedWindow } from './lib/charge-fit.js';

const GiB = 1024 ** 3;
const SYSCALLS = [
  'splice', 'epoll_wait', 'epoll_pwait', 'epoll_ctl', 'read', 'write', 'recvfrom', 'sendto', 'fcntl', 'pipe2', 'close',
];

interface Running {
  readonly pid: number;
  readonly port: number;
  stop(): Promise<void>;
}

async function startPath(fullPath: string, sinkPort: number): Promise<Running> {
  const at = fullPath.indexOf('@');
  const path = at < 0 ? fullPath : fullPath.slice(0, at);
  const env = at < 0 ? {} : parseEnvAssignments(fullPath.slice(at + 1).split('+'));
  if (path === 'tidegate-native' || path === 'tidegate-native-base') {
    const port = await freePort();
    const root = path === 'tidegate-native-base' ? process.env['TIDEGATE_BENCH_BASELINE_ROOT'] : undefined;
    if (path === 'tidegate-native-base' && (root === undefined || root === '')) {
      throw new Error(`${path}: set TIDEGATE_BENCH_BASELINE_ROOT`);
    }
    const tg: TidegateProcess = await spawnTidegate({
      services: [{ name: 'fwd', type: 'forward', listen: `127.0.0.1:${port}`, targets: [`127.0.0.1:${sinkPort}`] }],
      label: path,
      env,
      ...(root === undefined ? {} : { root }),
    });
    if (tg.relayEngine !== 'native') {
      await tg.stop();
      throw new Error(`tidegate runs relayEngine=${tg.relayEngine ?? 'unknown'}, not native`);
    }
    return { pid: tg.cpuPid, port, stop: () => tg.stop() };
  }
  const running: RunningPath = path === 'haproxy'
    ? await startHaproxy([sinkPort])
    : path === 'haproxy-1t'
      ? await startHaproxy([sinkPort], { threads: 1, label: path })
      : await startSpliceRelay([sinkPort]);
  return { pid: running.cpuPid, port: running.ports[0] as number, stop: () => running.stop() };
}

/** CPUs for the relay's threads and for the source's and sink's (taskset lists). */
interface Pin {
  readonly relay: string;
  readonly load: string;
}

/** Seconds the relay's threads waited on a run queue (schedstat's second field), and their involuntary switches. */
async function waitingOf(pid: number): Promise<{ waitSeconds: number; involuntary: number }> {
  let ns = 0;
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const sched = await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').catch(() => '');
    ns += Number(sched.split(' ')[1] ?? 0);
  }
  return { waitSeconds: ns / 1e9, involuntary: (await switchesOf([pid])).involuntary };
}

/** Each thread's voluntary switches (its sleeps), by `<name>/<tid>`. */
async function voluntarySwitches(pid: number): Promise<Map<string, number>> {
  return new Map((await threadSwitchesOf(pid)).map((t) => [t.thread, t.voluntary]));
}

/** Each thread's voluntary switches (its sleeps, so its wake-ups) between two readings, per GiB moved. */
function wakeupsPerGiB(before: Map<string, number>, after: Map<string, number>, gib: number): Record<string, number> {
  const wakeups: Record<string, number> = {};
  for (const [thread, count] of after) {
    const delta = count - (before.get(thread) ?? count);
    if (delta > 0) wakeups[thread] = Math.round(delta / gib);
  }
  return wakeups;
}

/** Per-hop TCP counters summed over the relay's sockets (`ss -ti`): what each hop's segments and ACKs were. */
interface HopCounters {
  segsIn: number;
  dataSegsIn: number;
  bytesReceived: number;
  segsOut: number;
  dataSegsOut: number;
  bytesSent: number;
  rmem: number;     // skmem r: bytes held in receive queues
  rcvbuf: number;   // skmem rb: receive buffers as autotuned
  wmem: number;     // skmem w: send queues
}

async function hopCounters(filter: string): Promise<HopCounters> {
  const out = await runCommand('ss', ['-tmiH', 'state', 'established', filter]);
  const sum: HopCounters = {
    segsIn: 0, dataSegsIn: 0, bytesReceived: 0, segsOut: 0, dataSegsOut: 0, bytesSent: 0, rmem: 0, rcvbuf: 0, wmem: 0,
  };
  const skmem = (text: string, name: string): number => Number(new RegExp(`[(,]${name}(\\d+)`).exec(text)?.[1] ?? 0);
  const field = (text: string, name: string): number => Number(new RegExp(`\\b${name}:(\\d+)`).exec(text)?.[1] ?? 0);
  for (const line of out.stdout.split('\n')) {
    sum.segsIn += field(line, 'segs_in');
    sum.dataSegsIn += field(line, 'data_segs_in');
    sum.bytesReceived += field(line, 'bytes_received');
    sum.segsOut += field(line, 'segs_out');
    sum.dataSegsOut += field(line, 'data_segs_out');
    sum.bytesSent += field(line, 'bytes_sent');
    sum.rmem += skmem(line, 'r');
    sum.rcvbuf += skmem(line, 'rb');
    sum.wmem += skmem(line, 'w');
  }
  return sum;
}

/** Mean data segment and ACKs per GiB of one hop between two snapshots (the relay's side of its sockets). */
function hopFigures(a: HopCounters, b: HopCounters, receiving: boolean): Record<string, number> {
  const bytes = receiving ? b.bytesReceived - a.bytesReceived : b.bytesSent - a.bytesSent;
  const dataSegs = receiving ? b.dataSegsIn - a.dataSegsIn : b.dataSegsOut - a.dataSegsOut;
  // Segments the relay's socket got or sent the other way: ACKs and window updates.
  const acks = receiving ? (b.segsOut - a.segsOut) - (b.dataSegsOut - a.dataSegsOut)
    : (b.segsIn - a.segsIn) - (b.dataSegsIn - a.dataSegsIn);
  const gib = bytes / GiB;
  return {
    meanSegKiB: dataSegs === 0 ? 0 : Math.round(bytes / dataSegs / 102.4) / 10,
    dataSegsPerGiB: gib === 0 ? 0 : Math.round(dataSegs / gib),
    acksPerGiB: gib === 0 ? 0 : Math.round(acks / gib),
    // At the window's end, all the hop's relay-side sockets: MiB held in receive and send queues, receive buffers.
    rmemMiB: Math.round(b.rmem / 1048576),
    rcvbufMiB: Math.round(b.rcvbuf / 1048576),
    wmemMiB: Math.round(b.wmem / 1048576),
  };
}

function histogram(values: number[], bounds: number[]): string {
  const counts = bounds.map(() => 0);
  for (const v of values) {
    const i = bounds.findIndex((b) => v <= b);
    counts[i < 0 ? bounds.length - 1 : i]++;
  }
  const label = (b: number): string => (b >= 1024 ? `${b / 1024}K` : String(b));
  return bounds.map((b, i) => (counts[i] === 0 ? '' : `<=${label(b)}:${counts[i]}`)).filter((x) => x !== '').join(' ');
}

async function measure(
  path: string, streams: number, seconds: number, load: StreamLoad, profileDir: string | undefined, trace: boolean,
  pin: Pin | undefined,
): Promise<Record<string, unknown>> {
  const sink = load.sink;
  const relay = await startPath(path, sink.port);
  const dir = await mkdtemp(join(tmpdir(), 'tidegate-syscalls-'));
  const recordFile = join(dir, 'perf.data');
  const recorder = new ManagedProcess('perf-record', 'perf', [
    'record', '-q', '-o', recordFile, '-e', 'syscalls:sys_exit_splice', '-e', 'syscalls:sys_exit_fcntl',
    '-p', String(relay.pid),
  ]);
  try {
    await sleep(500);
    const source = await load.startSource(relay.port, streams);
    try {
      if (pin !== undefined) {
        await runCommand('taskset', ['-a', '-p', '-c', pin.relay, String(relay.pid)]);
        for (const pid of [source.pid, sink.pid]) {
          await runCommand('taskset', ['-a', '-p', '-c', pin.load, String(pid)]);
        }
      }
      await sleep(1500);
      await recorder.stop('SIGINT', 30_000);
      const events = trace ? SYSCALLS.flatMap((s) => ['-e', `syscalls:sys_enter_${s}`]) : [];
      const cs0 = await voluntarySwitches(relay.pid);
      const wait0 = await waitingOf(relay.pid);
      const proc0 = await cpuSecondsOf(relay.pid);
      const sched0 = await threadCpuSecondsOf(relay.pid);
      const load0 = await cpuSecondsOfAll([source.pid, sink.pid]);
      const inFilter = `( sport = :${relay.port} )`;
      const outFilter = `( dport = :${sink.port} and not sport = :${relay.port} )`;
      const net0 = await readTcpPressure([relay.port, sink.port]);
      const hopIn0 = await hopCounters(inFilter);
      const hopOut0 = await hopCounters(outFilter);
      const b0 = await sink.bytes();
      const t0 = performance.now();
      const [stat, received] = await Promise.all([
        runCommand('perf', [
          'stat', '-x', ',', '-e', 'duration_time', '-e', 'task-clock', '-e', 'context-switches', ...events,
          '-p', String(relay.pid), '--', 'sleep', String(seconds),
        ]),
        countReceivedOnRelay(relay.pid, relay.port, sink.port, seconds),
      ]);
      const b1 = await sink.bytes();
      const hopIn1 = await hopCounters(inFilter);
      const hopOut1 = await hopCounters(outFilter);
      const net1 = await readTcpPressure([relay.port, sink.port]);
      const windowSeconds = (performance.now() - t0) / 1000;
      const cs1 = await voluntarySwitches(relay.pid);
      const wait1 = await waitingOf(relay.pid);
      const proc1 = await cpuSecondsOf(relay.pid);
      const sched1 = await threadCpuSecondsOf(relay.pid);
      const load1 = await cpuSecondsOfAll([source.pid, sink.pid]);
      if (profileDir !== undefined) {
        // A call-graph profile of the same workload right after the counted window (perf adds its own cost).
        const file = join(profileDir, `${path}-${streams}.perf.data`);
        await runCommand('perf', ['record', '-q', '-g', '-o', file, '-p', String(relay.pid), '--', 'sleep', '2']);
      }
      const gib = (b1 - b0) / GiB;
      const pressure = tcpPressureWindow(net0, net1, gib);
      const counted = new Map<string, number>();
      for (const line of stat.stderr.split('\n')) {
        const [value, , event] = line.split(',');
        if (event === undefined || value === undefined || !/^[\d.]+$/.test(value)) continue;
        counted.set(event.replace('syscalls:sys_enter_', ''), Number(value));
      }
      // perf counts over its own window, shorter than the bytes' (its start-up and exit, up to a second under load):
      // its counts are divided by the bytes of its window (at the window's mean rate), not of the whole one.
      const perfSeconds = (counted.get('duration_time') ?? windowSeconds * 1e9) / 1e9;
      const perfGiB = gib * Math.min(1, perfSeconds / windowSeconds);
      const perGiB: Record<string, number> = {};
      for (const [name, value] of counted) {
        if (name !== 'duration_time') perGiB[name] = Math.round(value / perfGiB);
      }
      const wakeups = wakeupsPerGiB(cs0, cs1, gib);
      const report = await runCommand('perf', ['script', '-i', recordFile, '-F', 'event,trace']);
      const spliceSizes: number[] = [];
      const fcntlReturns: number[] = [];
      for (const line of report.stdout.split('\n')) {
        const ret = /0x([0-9a-f]+)\s*$/.exec(line);
        if (ret === null) continue;
        const value = Number.parseInt(ret[1] as string, 16);
        if (line.includes('sys_exit_splice')) spliceSizes.push(value > 2 ** 62 ? -1 : value);
        else if (line.includes('sys_exit_fcntl') && value >= 4096 && value < 2 ** 31) fcntlReturns.push(value);
      }
      const positive = spliceSizes.filter((v) => v > 0);
      return {
        path, streams, gbps: ((b1 - b0) * 8) / windowSeconds / 1e9, gib, perfShareOfWindow: perfSeconds / windowSeconds,
        // The same window three ways: perf's task-clock (in perGiB), the run time the scheduler counted
        // (schedstat) and the tick-sampled utime + stime the relay bench reads (/proc/<pid>/stat).
        cpuMsPerGiB: {
          sched: Math.round(((sched1 - sched0) * 1000) / gib),
          proc: Math.round(((proc1 - proc0) * 1000) / gib),
          load: Math.round(((load1 - load0) * 1000) / gib),
        },
        perGiB, wakeupsPerGiB: wakeups,
        // Time the relay was runnable but not running (run-queue wait) and its preemptions, per GiB: a relay short of
        // CPU wakes rarely (its events wait for it) whatever its code does.
        runQueueMsPerGiB: Math.round(((wait1.waitSeconds - wait0.waitSeconds) * 1000) / gib),
        preemptionsPerGiB: Math.round((wait1.involuntary - wait0.involuntary) / gib),
        // source -> relay as the relay's sockets received it; relay -> sink as they sent it.
        hops: { in: hopFigures(hopIn0, hopIn1, true), out: hopFigures(hopOut0, hopOut1, false) },
        // The share of each hop's data segments the kernel received on the relay's threads (its softirq work charged
        // to the relay, bench/lib/softirq-charge.ts): `in` is the source's sending that the relay's reads set off.
        receivedOnRelay: received ?? { in: null, out: null },
        // Pressure signals over the window, system-wide, per GiB; TCP's pages at its end (tcp_mem's thresholds apply);
        // the window's kind by the relay bench's rule (bench/lib/tcp-pressure.ts).
        netPerGiB: Object.fromEntries(PRESSURE_COUNTERS.map((n) => [n, Math.round(pressure.deltas[n] / gib)])),
        tcpMemPages: net1.pages,
        kind: pressure.kind,
        own: {
          lostPerGiB: Math.round(pressure.ownLostPerGiB), retransPerGiB: Math.round(pressure.ownRetransPerGiB),
          drops: pressure.ownDrops,
        },
        spliceSample: {
          calls: spliceSizes.length, eagain: spliceSizes.filter((v) => v < 0).length,
          meanBytes: positive.length === 0 ? 0 : Math.round(positive.reduce((a, b) => a + b, 0) / positive.length),
          sizes: histogram(positive, [4096, 16384, 65536, 262144, 524288, 1048576]),
        },
        pipeSizesGranted: histogram(fcntlReturns, [4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576]),
      };
    } finally {
      await source.stop();
      await sink.settle();
    }
  } finally {
    await recorder.stop('SIGINT', 30_000);
    await relay.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function loadCpu(pin: Pin): string {
  return /^\d+/.exec(pin.load)?.[0] ?? '0';
}

/** Per-GiB counts of a `perf stat -x ,` report over `gib` bytes. */
function countsPerGiB(stderr: string, gib: number): Record<string, number> {
  const perGiB: Record<string, number> = {};
  for (const line of stderr.split('\n')) {
    const [value, , event] = line.split(',');
    if (event === undefined || value === undefined || !/^[\d.]+$/.test(value) || event === 'duration_time') continue;
    perGiB[event.replace('syscalls:sys_enter_', '')] = Math.round(Number(value) / gib);
  }
  return perGiB;
}

/**
 * One iperf3 stream through the relay (the relay bench's single-stream workload). perf counts over the iperf3 run
 * (started together, a little longer), divided by the bytes iperf3 moved; the load's CPU is iperf3's own figure.
 */
async function measureIperf3(
  path: string, seconds: number, iperfPort: number, trace: boolean, pin: Pin | undefined,
): Promise<Record<string, unknown>> {
  const relay = await startPath(path, iperfPort);
  const dir = await mkdtemp(join(tmpdir(), 'tidegate-syscalls-'));
  const recordFile = join(dir, 'perf.data');
  const recorder = new ManagedProcess('perf-record', 'perf', [
    'record', '-q', '-o', recordFile, '-e', 'syscalls:sys_exit_splice', '-p', String(relay.pid),
  ]);
  try {
    if (pin !== undefined) await runCommand('taskset', ['-a', '-p', '-c', pin.relay, String(relay.pid)]);
    await sleep(500);
    const events = trace ? SYSCALLS.flatMap((s) => ['-e', `syscalls:sys_enter_${s}`]) : [];
    const cs0 = await voluntarySwitches(relay.pid);
    const proc0 = await cpuSecondsOf(relay.pid);
    const sched0 = await threadCpuSecondsOf(relay.pid);
    const [stat, result, received] = await Promise.all([
      runCommand('perf', [
        'stat', '-x', ',', '-e', 'duration_time', '-e', 'task-clock', '-e', 'context-switches', ...events,
        '-p', String(relay.pid), '--', 'sleep', String(seconds + 0.5),
      ]),
      // `-A client,server`: iperf3 pins both ends itself (one CPU each: the first of the load's list).
      runIperf3(relay.port, seconds, 1, pin === undefined ? [] : ['-A', `${loadCpu(pin)},${loadCpu(pin)}`]),
      countReceivedOnRelay(relay.pid, relay.port, iperfPort, seconds),
    ]);
    const cs1 = await voluntarySwitches(relay.pid);
    const proc1 = await cpuSecondsOf(relay.pid);
    const sched1 = await threadCpuSecondsOf(relay.pid);
    await recorder.stop('SIGINT', 30_000);
    const gib = result.bytes / GiB;
    const wakeups = wakeupsPerGiB(cs0, cs1, gib);
    const report = await runCommand('perf', ['script', '-i', recordFile, '-F', 'event,trace']);
    const spliceSizes: number[] = [];
    for (const line of report.stdout.split('\n')) {
      const ret = /0x([0-9a-f]+)\s*$/.exec(line);
      if (ret === null || !line.includes('sys_exit_splice')) continue;
      const value = Number.parseInt(ret[1] as string, 16);
      spliceSizes.push(value > 2 ** 62 ? -1 : value);
    }
    const positive = spliceSizes.filter((v) => v > 0);
    return {
      path, streams: 1, load: 'iperf3', gbps: result.bitsPerSecond / 1e9, gib,
      cpuMsPerGiB: {
        sched: Math.round(((sched1 - sched0) * 1000) / gib),
        proc: Math.round(((proc1 - proc0) * 1000) / gib),
        load: Math.round(((result.clientCpuSeconds + result.serverCpuSeconds) * 1000) / gib),
      },
      perGiB: countsPerGiB(stat.stderr, gib), wakeupsPerGiB: wakeups,
      // The client's sending (`in`) and the relay's (`out`) received on the relay's threads: one stream's
      // throughput is the iperf3 client's CPU, and what the relay's reads take off it (native/README.md).
      receivedOnRelay: received ?? { in: null, out: null },
      spliceSample: {
        calls: spliceSizes.length, eagain: spliceSizes.filter((v) => v < 0).length,
        meanBytes: positive.length === 0 ? 0 : Math.round(positive.reduce((a, b) => a + b, 0) / positive.length),
        sizes: histogram(positive, [4096, 16384, 65536, 262144, 524288, 1048576]),
      },
    };
  } finally {
    await recorder.stop('SIGINT', 30_000);
    await relay.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const streamsList = (flagValue(argv, '--streams') ?? '100,1000').split(',').map(Number);
  const seconds = Number(flagValue(argv, '--seconds') ?? 3);
  const paths = (flagValue(argv, '--paths') ?? 'tidegate-native,haproxy,baseline-splice-c').split(',');
  const trace = !argv.includes('--no-trace');
  const rounds = Number(flagValue(argv, '--rounds') ?? 1);
  const pinFlag = flagValue(argv, '--pin')?.split('/');
  const pin = pinFlag === undefined ? undefined : { relay: pinFlag[0] ?? '0', load: pinFlag[1] ?? '0' };
  if (argv.includes('--iperf3')) {
    const server = await startIperf3Server();
    try {
      for (let round = 0; round < rounds; round++) {
        for (const path of paths) {
          const result = await measureIperf3(path, seconds, server.port, trace, pin);
          process.stdout.write(JSON.stringify({ round, ...result }) + '\n');
        }
      }
    } finally {
      await server.stop();
    }
    return;
  }
  const load = await startStreamLoad();
  const windows = new Map<number, ChargedWindow[]>(streamsList.map((n) => [n, []]));
  try {
    for (let round = 0; round < rounds; round++) {
      for (const streams of streamsList) {
        for (const path of paths) {
          const result = await measure(path, streams, seconds, load, flagValue(argv, '--profile'), trace, pin);
          process.stdout.write(JSON.stringify({ round, ...result }) + '\n');
          const shares = result['receivedOnRelay'] as { in: number | null; out: number | null };
          const cpu = result['cpuMsPerGiB'] as { sched: number };
          const inShare = shares.in ?? 0;
          windows.get(streams)?.push({ path, cpuPerGiB: cpu.sched, inShare, outShare: shares.out ?? 0 });
        }
      }
    }
  } finally {
    await load.stop();
  }
  // Every path's windows at equal charge (bench/lib/charge-fit.ts), once the rounds give enough of them.
  for (const [streams, list] of windows) {
    const fit = fitCharge(list);
    if (fit === undefined) continue;
    const round = (m: ReadonlyMap<string, number>): Record<string, number> =>
      Object.fromEntries([...m].map(([p, v]) => [p, Math.round(v)]));
    process.stdout.write(JSON.stringify({
      fit: { streams, windows: fit.windows, r2: Math.round(fit.r2 * 1000) / 1000, ownMsPerGiB: round(fit.own),
        msPerGiBPerShare: { in: Math.round(fit.perIn), out: Math.round(fit.perOut) },
        atMedianCharge: { in: fit.medianIn, out: fit.medianOut, msPerGiB: round(fit.atMedianCharge) } },
    }) + '\n');
  }
}

await main();
