/**
 * Where a worker fleet's churn CPU goes, per thread (issue 22): one process, 2 reuseport workers and two independent
 * single processes with half the load each (the workers bench's `workers-1x2` control), interleaved round by round,
 * with the workers bench's churn (connect, 1 KiB each way, close; 50 clients in all).
 *
 *   node dist/bench/workers-churn-threads.js [--rounds 3] [--seconds 6] [--paths workers-1,workers-2,workers-1x2]
 *     [--concurrency 50] [--syscalls] [--after 10] [--chat]
 * A path may name its churn clients: `workers-2:c2` (2 client processes in all, each half the concurrency, taking the
 * path's ports in turn), `workers-1x2:mix` (one client whose connections take the two processes' ports in turn),
 * `workers-1:half` (one client, every other connection straight to the churn server, not through tidegate);
 * by default one client per port, as the workers bench does. Variants of a path share its processes. A path ending
 * in `@base` (`workers-2@base`) runs the build at TIDEGATE_BENCH_BASELINE_ROOT. `:n<C>` sets the path's churn
 * concurrency in all (`workers-2:n100`: each worker sees what one process sees at 50). `:wrk`: the churn is
 * `wrk -H 'Connection: close'` through a second forward service to nginx (the wrk churn bench's load: C on both
 * ends), the concurrency split over the path's processes.
 *
 * Per path and round, per connection: CPU, run-queue wait and context switches (voluntary = sleeps, i.e. wake-ups;
 * involuntary = preemptions) of every thread, grouped by role (primary / worker or process) and thread name, from
 * /proc/<pid>/task/<tid>/{schedstat,status}; with `--syscalls`, `perf stat` counts of the wake-up syscalls over the
 * window; with `--after S`, what every thread spends in the S seconds after the load ends (ms/s), in windows of at
 * most 10 s (a thread that ends inside a window takes its whole CPU out of the sum: a negative reading).
 * With `--chat`, each round first runs the workers bench's chat300 (wrk against nginx, 6 s) and records what every
 * thread spends in the 6 s after it (`afterchat`), then runs the churn: the bench's order; `--limited` does the same
 * with the bench's rpm-limited key.
 * `TIDEGATE_BENCH_PIN=<generator cpus>/<tidegate cpus>` pins as the workers bench does.
 */
import { execFileSync } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { flagValue } from './lib/args.js';
import { runChurn, startChurnServer } from './lib/load.js';
import { freePort, sleep } from './lib/ports.js';
import { ManagedProcess } from './lib/process.js';
import { spawnTidegate, type TidegateProcess } from './lib/tidegate.js';
import { runWrkPost, startNginxUpstream } from './lib/light-load.js';
import { startNginx, type Nginx } from './lib/nginx.js';
import { runCommand } from './lib/process.js';
import { cpuSecondsOf } from './lib/cpu.js';
import { CLIENT_KEY, chatBody } from './scenarios/gateway.js';

interface ThreadSample {
  readonly cpuNs: number;
  readonly waitNs: number;
  readonly voluntary: number;
  readonly involuntary: number;
}

/** role/thread name -> summed sample of the threads of that name. */
type Snapshot = Map<string, ThreadSample>;

interface Proc {
  readonly pid: number;
  readonly role: string;
}

interface Running {
  readonly path: string;
  readonly tidegates: TidegateProcess[];
  readonly ports: number[];
  readonly llm: number[];
  /** Forward services to the wrk target's nginx (`:wrk` variants). */
  readonly wrkPorts: number[];
}

const CHURN_BYTES = 1024;

async function threadsOf(proc: Proc, into: Snapshot): Promise<void> {
  let tids: string[];
  try {
    tids = await readdir(`/proc/${proc.pid}/task`);
  } catch {
    return;
  }
  for (const tid of tids) {
    try {
      const sched = (await readFile(`/proc/${proc.pid}/task/${tid}/schedstat`, 'utf8')).split(' ');
      const status = await readFile(`/proc/${proc.pid}/task/${tid}/status`, 'utf8');
      const name = /^Name:\s*(.*)$/m.exec(status)?.[1] ?? '?';
      // Node's and V8's helper threads carry numbers; sum them per kind.
      const kind = name.replace(/[0-9]+$/, '#').replace(/^V8 DefaultWorke.*/, 'V8 worker#');
      const key = `${proc.role}/${kind}`;
      const prev = into.get(key) ?? { cpuNs: 0, waitNs: 0, voluntary: 0, involuntary: 0 };
      into.set(key, {
        cpuNs: prev.cpuNs + Number(sched[0]), waitNs: prev.waitNs + Number(sched[1]),
        voluntary: prev.voluntary + Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(status)?.[1] ?? 0),
        involuntary: prev.involuntary + Number(/^nonvoluntary_ctxt_switches:\s*(\d+)/m.exec(status)?.[1] ?? 0),
      });
    } catch {
      // the thread ended meanwhile
    }
  }
}

async function snapshot(procs: readonly Proc[]): Promise<Snapshot> {
  const out: Snapshot = new Map();
  for (const p of procs) await threadsOf(p, out);
  return out;
}

function diff(a: Snapshot, b: Snapshot): Snapshot {
  const out: Snapshot = new Map();
  for (const [k, v] of b) {
    const p = a.get(k) ?? { cpuNs: 0, waitNs: 0, voluntary: 0, involuntary: 0 };
    out.set(k, {
      cpuNs: v.cpuNs - p.cpuNs, waitNs: v.waitNs - p.waitNs, voluntary: v.voluntary - p.voluntary,
      involuntary: v.involuntary - p.involuntary,
    });
  }
  return out;
}

async function procsOf(r: Running): Promise<Proc[]> {
  const out: Proc[] = [];
  for (const [n, tg] of r.tidegates.entries()) {
    const res = await fetch(`http://127.0.0.1:${tg.adminPort}/workers`);
    if (res.status === 200) {
      out.push({ pid: tg.cpuPid, role: 'primary' });
      const body = (await res.json()) as { slots: { pid: number | null }[] };
      for (const [i, s] of body.slots.entries()) if (s.pid !== null) out.push({ pid: s.pid, role: `worker` + i });
    } else {
      await res.body?.cancel();
      out.push({ pid: tg.cpuPid, role: `process${n}` });
    }
  }
  return out;
}

/** Per-role rows collapsed: worker0 + worker1 → "worker", process0 + process1 → "process". */
function collapse(s: Snapshot): Snapshot {
  const out: Snapshot = new Map();
  for (const [k, v] of s) {
    const key = k.replace(/^(worker|process)[0-9]+/, '$1');
    const p = out.get(key) ?? { cpuNs: 0, waitNs: 0, voluntary: 0, involuntary: 0 };
    out.set(key, {
      cpuNs: p.cpuNs + v.cpuNs, waitNs: p.waitNs + v.waitNs, voluntary: p.voluntary + v.voluntary,
      involuntary: p.involuntary + v.involuntary,
    });
  }
  return out;
}

const SYSCALLS = ['epoll_pwait', 'epoll_wait', 'write', 'read', 'futex', 'accept4', 'sendmsg', 'recvmsg'];

function startPerfStat(pids: readonly number[], file: string): ManagedProcess {
  const events = SYSCALLS.flatMap((s) => ['-e', `syscalls:sys_enter_${s}`]);
  return new ManagedProcess('perf-stat', 'perf', [
    'stat', '-x', ',', '-o', file, ...events, '-p', pids.join(','),
  ]);
}

async function perfCounts(file: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const text = await readFile(file, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const f = line.split(',');
    const name = f[2]?.replace('syscalls:sys_enter_', '');
    if (name !== undefined && f[0] !== undefined && /^[0-9]+$/.test(f[0])) out.set(name, Number(f[0]));
  }
  return out;
}

/**
 * The churn of one round: by default one client per port (the workers bench's way: the control gets two); `c<K>`:
 * K client processes in all, taking the ports in turn; `mix`: one client whose connections take the ports in turn;
 * `half`: one client whose every other connection goes straight to the churn server, so tidegate gets what one of
 * two reuseport workers gets (half of the stream, the same client); counted are tidegate's connections only.
 */
function churnOf(
  ports: readonly number[], loader: string | undefined, concurrency: number, seconds: number, direct: number,
): Promise<{ connections: number; connPerSec: number; p50: number }[]> {
  if (loader === 'mix') return Promise.all([runChurn(ports, concurrency, seconds * 1000, CHURN_BYTES)]);
  if (loader === 'half') {
    // Every other connection goes straight to the churn server: tidegate sees half of one client's stream.
    return runChurn([...ports, direct], concurrency, seconds * 1000, CHURN_BYTES).then((c) => [{
      connections: (c.connections * ports.length) / (ports.length + 1),
      connPerSec: (c.connPerSec * ports.length) / (ports.length + 1), p50: c.p50,
    }]);
  }
  const clients = loader === undefined ? ports.length : Number(loader.slice(1));
  const per = Math.round(concurrency / clients);
  return Promise.all(Array.from({ length: clients }, (_, i) =>
    runChurn(ports[i % ports.length]!, per, seconds * 1000, CHURN_BYTES)));
}

/** CPU seconds of this process's reaped children (the churn clients once they exited), from /proc/self/stat. */
async function childrenCpuSeconds(): Promise<number> {
  const text = await readFile('/proc/self/stat', 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).trim().split(' ');
  // fields[0] is field 3: cutime and cstime are fields 16 and 17.
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

async function cpuOfAll(pids: readonly number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) total += await cpuSecondsOf(pid).catch(() => 0);
  return total;
}

/** wrk with `Connection: close` on every port at once (the concurrency split), one connection per request. */
async function wrkChurn(
  ports: readonly number[], concurrency: number, seconds: number,
): Promise<{ connections: number; connPerSec: number; p50: number }[]> {
  const per = Math.round(concurrency / ports.length);
  return Promise.all(ports.map(async (port) => {
    const w = await runCommand('wrk', [
      '-t1', `-c${per}`, `-d${seconds}s`, '-H', 'Connection: close', `http://127.0.0.1:${port}/`,
    ]);
    const requests = Number(/(\d+) requests in/.exec(w.stdout)?.[1] ?? 0);
    if (requests === 0) throw new Error(`wrk made no requests: ${w.stdout}${w.stderr}`);
    return { connections: requests, connPerSec: requests / seconds, p50: 0 };
  }));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const rounds = Number(flagValue(args, '--rounds') ?? 3);
  const seconds = Number(flagValue(args, '--seconds') ?? 6);
  const defaultConcurrency = Number(flagValue(args, '--concurrency') ?? 50);
  const after = Number(flagValue(args, '--after') ?? 0);
  const syscalls = args.includes('--syscalls');
  const withChat = args.includes('--chat') || args.includes('--limited');
  // The workers bench's limited key: every admission goes through the primary's limit hub.
  const chatKey = args.includes('--limited') ? 'tg-bench-limited' : CLIENT_KEY;
  const variants = (flagValue(args, '--paths') ?? 'workers-1,workers-2,workers-1x2').split(',');
  const wanted = [...new Set(variants.map((v) => v.split(':')[0]!))];
  const pin = process.env.TIDEGATE_BENCH_PIN;
  let cpus: string | undefined;
  if (pin !== undefined && pin !== '') {
    const [generator, tidegate] = pin.split('/');
    execFileSync('taskset', ['-a', '-p', '-c', generator!, String(process.pid)], { stdio: 'ignore' });
    cpus = tidegate;
  }
  const churn = await startChurnServer(CHURN_BYTES);
  // `:wrk` variants: wrk -H 'Connection: close' through a forward service to nginx (the wrk churn bench's load).
  const wrkTarget: Nginx = await startNginx('wct-nginx', [], 'return 200 "ok\\n";');
  const nginx = withChat ? await startNginxUpstream() : null;
  const body = chatBody(false);
  const chat = (r: Running, s: number): Promise<unknown> => Promise.all(r.llm.map((port) => runWrkPost(
    `http://127.0.0.1:${port}/v1/chat/completions`, Math.round(defaultConcurrency / r.llm.length), s, body,
    { 'content-type': 'application/json', authorization: `Bearer ${chatKey}` },
  )));
  const running: Running[] = [];
  try {
    for (const path of wanted) {
      const [kind, build] = path.split('@') as [string, string | undefined];
      const workers = kind === 'workers-2' ? 2 : 1;
      const count = kind === 'workers-1x2' ? 2 : 1;
      const root = build === 'base' ? process.env.TIDEGATE_BENCH_BASELINE_ROOT : undefined;
      if (build === 'base' && root === undefined) throw new Error(`${path}: TIDEGATE_BENCH_BASELINE_ROOT is not set`);
      const r: Running = { path, tidegates: [], ports: [], llm: [], wrkPorts: [] };
      for (let i = 0; i < count; i++) {
        const port = await freePort();
        const llm = await freePort();
        const wport = await freePort();
        const gateway = nginx === null ? [] : [{
          name: 'llm', type: 'gateway', listen: `127.0.0.1:${llm}`, maxConnections: 100_000,
          channels: [{ name: 'primary', kind: 'openai', baseUrl: `http://127.0.0.1:${nginx.port}/v1`, keys: ['sk'] }],
        }];
        r.tidegates.push(await spawnTidegate({
          label: `${path}-${i}`, ...(cpus === undefined ? {} : { cpus }), ...(root === undefined ? {} : { root }),
          env: workers > 1 ? { TIDEGATE_WORKER_LISTEN: 'reuseport' } : {},
          config: {
            workers,
            users: [
              { id: 'bench', keys: [CLIENT_KEY] },
              { id: 'limited', keys: [{ key: 'tg-bench-limited', name: 'bench', limits: { rpm: 1_000_000_000 } }] },
            ],
            ...(nginx === null ? {} : { store: { sqlite: `/tmp/tidegate-wct-${process.pid}-${path}-${i}.db` } }),
          },
          services: [
            { name: 'fwd', type: 'forward', listen: `127.0.0.1:${port}`, targets: [`127.0.0.1:${churn.port}`] },
            { name: 'fwdw', type: 'forward', listen: `127.0.0.1:${wport}`, targets: [`127.0.0.1:${wrkTarget.port}`] },
            ...gateway,
          ],
        }));
        r.ports.push(port);
        r.llm.push(llm);
        r.wrkPorts.push(wport);
      }
      running.push(r);
      const per = Math.round(defaultConcurrency / r.ports.length);
      // The workers bench's warm-up: one process's connections per process.
      if (nginx !== null) await chat(r, 4 * workers * count);
      await Promise.all(r.ports.map((p) => runChurn(p, per, 2000 * workers * count, CHURN_BYTES)));
    }
    const table = new Map<string, Map<string, number[]>>();
    const add = (path: string, key: string, v: number): void => {
      let m = table.get(path);
      if (m === undefined) table.set(path, m = new Map());
      let a = m.get(key);
      if (a === undefined) m.set(key, a = []);
      a.push(v);
    };
    for (let round = 0; round < rounds; round++) {
      for (const variant of variants) {
        const [base, ...mods] = variant.split(':') as [string, ...string[]];
        const loader = mods.find((m) => m === 'mix' || m === 'half' || m.startsWith('c'));
        const n = mods.find((m) => /^n[0-9]+$/.test(m));
        const concurrency = n === undefined ? defaultConcurrency : Number(n.slice(1));
        const r = { ...running.find((x) => x.path === base)!, path: variant };
        const procs = await procsOf(r);
        if (nginx !== null) {
          await chat(r, seconds);
          const c0 = await snapshot(procs);
          await sleep(seconds * 1000);
          let ms = 0;
          for (const [k, v] of collapse(diff(c0, await snapshot(procs)))) {
            const perS = v.cpuNs / 1e6 / seconds;
            ms += perS;
            if (perS >= 0.05) add(r.path, `afterchat ${k} ms/s`, perS);
          }
          add(r.path, 'afterchat TOTAL ms/s', ms);
        }
        await sleep(2000);
        const perfFile = `/tmp/tidegate-wct-${process.pid}.txt`;
        const perf = syscalls ? startPerfStat(procs.map((p) => p.pid), perfFile) : null;
        if (perf !== null) await sleep(300);
        const s0 = await snapshot(procs);
        const self0 = await childrenCpuSeconds();
        const server0 = await cpuSecondsOf(churn.load.child.pid!);
        const target0 = await cpuOfAll(await wrkTarget.pids());
        const results = mods.includes('wrk')
          ? await wrkChurn(r.wrkPorts, concurrency, seconds)
          : await churnOf(r.ports, loader, concurrency, seconds, churn.port);
        const loaderCpu = (await childrenCpuSeconds()) - self0 + (await cpuSecondsOf(churn.load.child.pid!)) - server0 +
          (await cpuOfAll(await wrkTarget.pids())) - target0;
        const s1 = await snapshot(procs);
        if (perf !== null) await perf.stop('SIGINT', 5000);
        const conns = results.reduce((s, x) => s + x.connections, 0);
        const rate = results.reduce((s, x) => s + x.connPerSec, 0);
        const raw = diff(s0, s1);
        const d = collapse(raw);
        // How the kernel's hash spread the work: each worker's share of the workers' CPU.
        const perWorker = new Map<string, number>();
        for (const [k, v] of raw) {
          const role = k.split('/')[0]!;
          if (role.startsWith('worker')) perWorker.set(role, (perWorker.get(role) ?? 0) + v.cpuNs);
        }
        const workersNs = [...perWorker.values()].reduce((a, b) => a + b, 0);
        if (perWorker.size > 1) add(r.path, 'worker0 share of workers cpu', perWorker.get('worker0')! / workersNs);
        let total = 0;
        let vol = 0;
        let invol = 0;
        for (const [k, v] of d) {
          total += v.cpuNs;
          vol += v.voluntary;
          invol += v.involuntary;
          if (v.cpuNs / conns / 1000 >= 0.05 || v.voluntary / conns >= 0.01) {
            add(r.path, `${k} cpu µs`, v.cpuNs / conns / 1000);
            add(r.path, `${k} wait µs`, v.waitNs / conns / 1000);
            add(r.path, `${k} vol cs`, v.voluntary / conns);
            add(r.path, `${k} invol cs`, v.involuntary / conns);
          }
        }
        add(r.path, 'TOTAL cpu µs', total / conns / 1000);
        add(r.path, 'TOTAL vol cs', vol / conns);
        add(r.path, 'TOTAL invol cs', invol / conns);
        add(r.path, 'conn/s', rate);
        // The churn clients (reaped children of this process), the churn server and nginx: with --syscalls, perf too.
        add(r.path, 'load generator + target cpu µs', (loaderCpu / conns) * 1e6);
        add(r.path, 'load generator + target cores', loaderCpu / seconds);
        add(r.path, 'p50 ms', results[0]!.p50);
        if (perf !== null) {
          for (const [name, n] of await perfCounts(perfFile)) add(r.path, `syscall ${name}`, n / conns);
        }
        const perConn = (total / conns / 1000).toFixed(1);
        let line = `${r.path} round ${round + 1}: ${rate.toFixed(0)} conn/s, ${perConn} µs/conn`;
        if (after > 0) {
          // In windows of at most 10 s: what runs after the load, and when.
          const windows = Math.max(2, Math.ceil(after / 10));
          let prev = await snapshot(procs);
          for (let w = 1; w <= windows; w++) {
            await sleep((after * 1000) / windows);
            const next = await snapshot(procs);
            let ms = 0;
            for (const [k, v] of collapse(diff(prev, next))) {
              const perS = v.cpuNs / 1e6 / (after / windows);
              ms += perS;
              if (perS >= 0.05) add(r.path, `after${w} ${k} ms/s`, perS);
            }
            add(r.path, `after${w} TOTAL ms/s`, ms);
            line += `, after${w} ${ms.toFixed(2)} ms/s`;
            prev = next;
          }
        }
        const load = (await readFile('/proc/loadavg', 'utf8')).split(' ')[0];
        console.log(`${line} (load ${load})`);
      }
    }
    const med = (a: number[]): number => {
      const s = [...a].sort((x, y) => x - y);
      return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
    };
    for (const [path, m] of table) {
      console.log(`\n== ${path} (medians of ${rounds}; per connection unless marked)`);
      for (const [k, a] of [...m].sort((x, y) => x[0].localeCompare(y[0]))) {
        console.log(`  ${k.padEnd(44)} ${med(a).toFixed(3).padStart(10)}   [${a.map((x) => x.toFixed(2)).join(' ')}]`);
      }
    }
  } finally {
    for (const r of running) for (const t of r.tidegates) await t.stop();
    await churn.load.stop();
    await nginx?.stop();
    await wrkTarget.stop();
  }
}

await main();
