/**
 * Where a worker fleet's churn CPU goes, per thread (issue 22): one process, 2 reuseport workers and two independent
 * single processes with half the load each (the workers bench's `workers-1x2` control), interleaved round by round,
 * with the workers bench's churn (connect, 1 KiB each way, close; 50 clients in all).
 *
 *   node dist/bench/workers-churn-threads.js [--rounds 3] [--seconds 6] [--paths workers-1,workers-2,workers-1x2]
 *     [--concurrency 50] [--syscalls] [--after 10] [--chat]
 * A path may name its churn clients: `workers-2:c2` (2 client processes in all, each half the concurrency, taking the
 * path's ports in turn), `workers-1x2:mix` (one client whose connections take the two processes' ports in turn);
 * by default one client per port, as the workers bench does. Variants of a path share its processes.
 *
 * Per path and round, per connection: CPU, run-queue wait and context switches (voluntary = sleeps, i.e. wake-ups;
 * involuntary = preemptions) of every thread, grouped by role (primary / worker or process) and thread name, from
 * /proc/<pid>/task/<tid>/{schedstat,status}; with `--syscalls`, `perf stat` counts of the wake-up syscalls over the
 * window; with `--after S`, what every thread spends in the S seconds after the load ends (ms/s), in two halves.
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
 * K client processes in all, taking the ports in turn; `mix`: one client whose connections take the ports in turn.
 */
function churnOf(
  ports: readonly number[], loader: string | undefined, concurrency: number, seconds: number,
): Promise<{ connections: number; connPerSec: number; p50: number }[]> {
  if (loader === 'mix') return Promise.all([runChurn(ports, concurrency, seconds * 1000, CHURN_BYTES)]);
  const clients = loader === undefined ? ports.length : Number(loader.slice(1));
  const per = Math.round(concurrency / clients);
  return Promise.all(Array.from({ length: clients }, (_, i) =>
    runChurn(ports[i % ports.length]!, per, seconds * 1000, CHURN_BYTES)));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const rounds = Number(flagValue(args, '--rounds') ?? 3);
  const seconds = Number(flagValue(args, '--seconds') ?? 6);
  const concurrency = Number(flagValue(args, '--concurrency') ?? 50);
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
  const nginx = withChat ? await startNginxUpstream() : null;
  const body = chatBody(false);
  const chat = (r: Running, s: number): Promise<unknown> => Promise.all(r.llm.map((port) => runWrkPost(
    `http://127.0.0.1:${port}/v1/chat/completions`, Math.round(concurrency / r.llm.length), s, body,
    { 'content-type': 'application/json', authorization: `Bearer ${chatKey}` },
  )));
  const running: Running[] = [];
  try {
    for (const path of wanted) {
      const workers = path === 'workers-2' ? 2 : 1;
      const count = path === 'workers-1x2' ? 2 : 1;
      const r: Running = { path, tidegates: [], ports: [], llm: [] };
      for (let i = 0; i < count; i++) {
        const port = await freePort();
        const llm = await freePort();
        const gateway = nginx === null ? [] : [{
          name: 'llm', type: 'gateway', listen: `127.0.0.1:${llm}`, maxConnections: 100_000,
          channels: [{ name: 'primary', kind: 'openai', baseUrl: `http://127.0.0.1:${nginx.port}/v1`, keys: ['sk'] }],
        }];
        r.tidegates.push(await spawnTidegate({
          label: `${path}-${i}`, ...(cpus === undefined ? {} : { cpus }),
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
            ...gateway,
          ],
        }));
        r.ports.push(port);
        r.llm.push(llm);
      }
      running.push(r);
      const per = Math.round(concurrency / r.ports.length);
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
        const [base, loader] = variant.split(':') as [string, string | undefined];
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
        const results = await churnOf(r.ports, loader, concurrency, seconds);
        const s1 = await snapshot(procs);
        if (perf !== null) await perf.stop('SIGINT', 5000);
        const conns = results.reduce((s, x) => s + x.connections, 0);
        const rate = results.reduce((s, x) => s + x.connPerSec, 0);
        const d = collapse(diff(s0, s1));
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
        add(r.path, 'p50 ms', results[0]!.p50);
        if (perf !== null) {
          for (const [name, n] of await perfCounts(perfFile)) add(r.path, `syscall ${name}`, n / conns);
        }
        let line = `${r.path} round ${round + 1}: ${rate.toFixed(0)} conn/s, ${(total / conns / 1000).toFixed(1)} µs/conn`;
        if (after > 0) {
          const a0 = await snapshot(procs);
          await sleep((after * 1000) / 2);
          const a1 = await snapshot(procs);
          await sleep((after * 1000) / 2);
          const a2 = await snapshot(procs);
          for (const [label, x, y] of [['after1', a0, a1], ['after2', a1, a2]] as const) {
            let ms = 0;
            for (const [k, v] of collapse(diff(x, y))) {
              const perS = v.cpuNs / 1e6 / (after / 2);
              ms += perS;
              if (perS >= 0.05) add(r.path, `${label} ${k} ms/s`, perS);
            }
            add(r.path, `${label} TOTAL ms/s`, ms);
            line += `, ${label} ${ms.toFixed(2)} ms/s`;
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
  }
}

await main();
