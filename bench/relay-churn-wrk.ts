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
 * `haproxy-1t`: HAProxy with `nbthread 1`, one thread like tidegate's one relay thread (`haproxy` runs one thread per
 * core, its default), to tell a per-connection cost from a share of the scheduler when conn/s differ.
 *
 * Needs wrk and nginx (apt-get install wrk nginx); nginx runs in the foreground from a temp config on 127.0.0.1.
 */
import { readFile } from 'node:fs/promises';
import { flagValue } from './lib/args.js';
import { startHaproxy, startSpliceRelay } from './lib/baselines.js';
import { clockTicksPerSecond, cpuSecondsOf, parseProcStatCpuSeconds } from './lib/cpu.js';
import { startNginx } from './lib/nginx.js';
import { freePort } from './lib/ports.js';
import { runCommand } from './lib/process.js';
import { spawnTidegate } from './lib/tidegate.js';
import { median } from './stats.js';

interface Running {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

async function startPath(path: string, nginxPort: number): Promise<Running> {
  if (path === 'tidegate-native' || path === 'tidegate-js' || path.startsWith('tidegate-native-')) {
    const port = await freePort();
    const env: Record<string, string> = path === 'tidegate-js' ? { TIDEGATE_RELAY: 'js' } : {};
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

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const rounds = Number(flagValue(argv, '--rounds') ?? 3);
  const seconds = Number(flagValue(argv, '--seconds') ?? 5);
  const connections = Number(flagValue(argv, '--connections') ?? 50);
  const paths = (flagValue(argv, '--paths') ?? 'tidegate-native,haproxy,baseline-splice-c').split(',');
  const nginx = await startNginx('nginx', [], 'return 200 "ok\\n";');
  const running = new Map<string, Running>();
  const samples = new Map<string, { connPerSec: number[]; cpuMsPerConn: number[]; mainCpuMsPerConn: number[] }>();
  try {
    for (const path of paths) {
      running.set(path, await startPath(path, nginx.port));
      samples.set(path, { connPerSec: [], cpuMsPerConn: [], mainCpuMsPerConn: [] });
    }
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < paths.length; k++) {
        const path = paths[(round + k) % paths.length] as string;
        const relay = running.get(path) as Running;
        const cpu0 = await cpuSecondsOf(relay.pid);
        const main0 = await mainThreadCpuSecondsOf(relay.pid);
        const wrk = await runCommand('wrk', [
          '-t1', `-c${connections}`, `-d${seconds}s`, '-H', 'Connection: close', `http://127.0.0.1:${relay.port}/`,
        ]);
        const cpu1 = await cpuSecondsOf(relay.pid);
        const main1 = await mainThreadCpuSecondsOf(relay.pid);
        const requests = Number(/(\d+) requests in/.exec(wrk.stdout)?.[1] ?? 0);
        const rate = Number(/Requests\/sec:\s*([\d.]+)/.exec(wrk.stdout)?.[1] ?? 0);
        if (requests === 0) throw new Error(`${path}: wrk made no requests: ${wrk.stdout}${wrk.stderr}`);
        const s = samples.get(path)!;
        s.connPerSec.push(rate);
        s.cpuMsPerConn.push(((cpu1 - cpu0) * 1000) / requests);
        s.mainCpuMsPerConn.push(((main1 - main0) * 1000) / requests);
        process.stderr.write(`round ${round + 1} ${path}: ${Math.round(rate)} conn/s, ` +
          `${(((cpu1 - cpu0) * 1000) / requests).toFixed(4)} CPU-ms/conn ` +
          `(main thread ${(((main1 - main0) * 1000) / requests).toFixed(4)})\n`);
      }
    }
  } finally {
    for (const relay of running.values()) await relay.stop().catch(() => undefined);
    await nginx.stop();
  }
  const out: Record<string, { connPerSec: number; cpuMsPerConn: number; mainCpuMsPerConn: number }> = {};
  for (const [path, s] of samples) {
    out[path] = {
      connPerSec: median(s.connPerSec),
      cpuMsPerConn: median(s.cpuMsPerConn),
      mainCpuMsPerConn: median(s.mainCpuMsPerConn),
    };
  }
  process.stdout.write(JSON.stringify({ rounds, seconds, connections, medians: out }) + '\n');
}

await main();
