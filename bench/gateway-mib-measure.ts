/**
 * One-off: large pass-through bodies through the naive proxy, this build's tidegate and (with
 * TIDEGATE_BENCH_BASE_ROOT) another build's, interleaved round by round: req/s, p99 and CPU µs per request of each
 * path's process (all its threads). Same config and upstream as `npm run bench -- gateway`.
 * Usage: node dist/bench/gateway-mib-measure.js [--rounds 5] [--seconds 6] [--kib 1024] [--connections 10]
 *        [--first-seconds 0]  (> 0: CPU per request of a fresh tidegate's first seconds under chat300, per second)
 *        [--chat-seconds 0]   (> 0: chat300 on 50 connections in the same rounds, for "chat300 unchanged")
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flagValue } from './lib/args.js';
import { startNaiveProxy, type RunningPath } from './lib/baselines.js';
import { cpuSecondsOf } from './lib/cpu.js';
import { median as medianOf } from './stats.js';
import { benchRepoRoot, setTidegateTarget, type TidegateProcess } from './lib/tidegate.js';
import {
  CLIENT_KEY, cannon, chatBody, startGatewayTidegate, startUpstream, type Target,
} from './scenarios/gateway.js';

function bodyOf(bytes: number): string {
  const base = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: '' }] };
  const empty = JSON.stringify(base).length;
  base.messages[0]!.content = 'x'.repeat(Math.max(1, bytes - empty));
  return JSON.stringify(base);
}

interface Row { rps: number[]; p99: number[]; cpu: number[] }

function newRow(): Row {
  return { rps: [], p99: [], cpu: [] };
}

function summary(label: string, r: Row, n: Row): string {
  const rps = medianOf(r.rps);
  const p99 = medianOf(r.p99);
  const cpu = medianOf(r.cpu);
  return `${label.padEnd(14)} ${rps.toFixed(1)} req/s (${(rps / medianOf(n.rps)).toFixed(2)}× naive)  ` +
    `p99 ${p99} ms (${(p99 / medianOf(n.p99)).toFixed(2)}×)  CPU ${Math.round(cpu)} µs/req ` +
    `(${(cpu / medianOf(n.cpu)).toFixed(2)}×)\n`;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const rounds = Number(flagValue(argv, '--rounds') ?? '5');
  const seconds = Number(flagValue(argv, '--seconds') ?? '6');
  const kib = Number(flagValue(argv, '--kib') ?? '1024');
  const connections = Number(flagValue(argv, '--connections') ?? '10');
  const firstSeconds = Number(flagValue(argv, '--first-seconds') ?? '0');
  const chatSeconds = Number(flagValue(argv, '--chat-seconds') ?? '0');
  const baseRoot = process.env.TIDEGATE_BENCH_BASE_ROOT;
  const upstream = await startUpstream();
  const up = `http://127.0.0.1:${upstream.port}`;
  const dirs: string[] = [];
  const tgs: TidegateProcess[] = [];
  let naive: RunningPath | null = null;
  const targets: Target[] = [];
  const labels: string[] = [];
  const headers = { authorization: `Bearer ${CLIENT_KEY}`, 'x-session-id': 'bench-session-1' };
  try {
    naive = await startNaiveProxy(up);
    targets.push({ path: 'baseline-naive', url: `http://127.0.0.1:${naive.ports[0]}`, headers, pid: naive.cpuPid });
    labels.push('naive');
    const builds: [string, string][] = [['tidegate', benchRepoRoot]];
    if (baseRoot !== undefined) builds.unshift(['tidegate-base', baseRoot]);
    for (const [label, root] of builds) {
      setTidegateTarget({ root });
      const dir = await mkdtemp(join(tmpdir(), 'tidegate-mib-'));
      dirs.push(dir);
      const tg = await startGatewayTidegate(upstream.port, dir, { label });
      tgs.push(tg.tidegate);
      targets.push({ path: 'tidegate', url: `http://127.0.0.1:${tg.port}`, headers, pid: tg.tidegate.cpuPid });
      labels.push(label);
    }
    setTidegateTarget({ root: benchRepoRoot });
    if (firstSeconds > 0) {
      // A fresh process's first seconds under chat300: CPU per request, second by second.
      const small = chatBody(false);
      for (let i = 1; i < targets.length; i++) {
        const line: string[] = [];
        for (let s = 0; s < firstSeconds; s++) {
          const before = await cpuSecondsOf(targets[i]!.pid);
          const r = await cannon(targets[i]!, small, 50, 1);
          const cpu = (await cpuSecondsOf(targets[i]!.pid)) - before;
          line.push(`${Math.round((cpu * 1e6) / Math.max(1, r.rps))}`);
        }
        process.stdout.write(`${labels[i]} first ${firstSeconds} s, CPU µs/req per second: ${line.join(' ')}\n`);
      }
    }
    const body = bodyOf(kib * 1024);
    const small = chatBody(false);
    // Past the JIT's warm-up (see the gateway scenario's WARM_S).
    for (const t of targets) await cannon(t, small, 50, 4);
    for (const t of targets) await cannon(t, body, connections, 1);
    const rows = targets.map(newRow);
    const chats = targets.map(newRow);
    for (let round = 0; round < rounds; round++) {
      // Rotate the order so no path always runs right after another.
      for (let k = 0; k < targets.length; k++) {
        const i = (k + round) % targets.length;
        const t = targets[i]!;
        if (chatSeconds > 0) {
          const c0 = await cpuSecondsOf(t.pid);
          const c = await cannon(t, small, 50, chatSeconds);
          const used = (await cpuSecondsOf(t.pid)) - c0;
          chats[i]!.rps.push(c.rps);
          chats[i]!.p99.push(c.p99);
          chats[i]!.cpu.push((used * 1e6) / Math.max(1, c.rps * chatSeconds));
        }
        const before = await cpuSecondsOf(t.pid);
        const r = await cannon(t, body, connections, seconds);
        const cpu = (await cpuSecondsOf(t.pid)) - before;
        rows[i]!.rps.push(r.rps);
        rows[i]!.p99.push(r.p99);
        rows[i]!.cpu.push((cpu * 1e6) / Math.max(1, r.rps * seconds));
        if (r.errors + r.non2xx > 0) process.stdout.write(`${labels[i]}: ${r.errors} errors ${r.non2xx} non-2xx\n`);
      }
      process.stdout.write(`round ${round + 1}: ${labels.map((l, i) => `${l} ${Math.round(rows[i]!.rps[round]!)}/s`
        + ` p99 ${rows[i]!.p99[round]} ${Math.round(rows[i]!.cpu[round]!)}µs`).join(' · ')}\n`);
    }
    process.stdout.write(`\n${kib} KiB bodies, ${connections} connections, ${rounds}×${seconds} s (medians)\n`);
    for (let i = 0; i < targets.length; i++) process.stdout.write(summary(labels[i]!, rows[i]!, rows[0]!));
    if (chatSeconds > 0) {
      process.stdout.write(`\nchat300, 50 connections, ${rounds}×${chatSeconds} s (medians)\n`);
      for (let i = 0; i < targets.length; i++) process.stdout.write(summary(labels[i]!, chats[i]!, chats[0]!));
    }
  } finally {
    for (const tg of tgs) await tg.stop();
    await naive?.stop();
    await upstream.process.stop('SIGTERM', 5000);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
}

await main();
