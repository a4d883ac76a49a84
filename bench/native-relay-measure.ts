/**
 * Standalone measurement of the native splice relay against a `socket.pipe()` relay, in one run (the bench helper's
 * bench/scenarios/relay.ts is the product bench; this is the native engine's own quick check).
 *
 *   node dist/bench/native-relay-measure.js [GiB per round=2] [rounds=3] [idle connections=5000]
 *   (GiB 0 skips the throughput part)
 *
 * Throughput uses iperf3 (client -> relay -> iperf3 server, one stream); the relay runs in its own process and its
 * CPU (all threads, process.cpuUsage) is read before and after each round. Idle memory: RSS growth of the relay
 * process per idle relayed connection, after a GC. Prints medians and ratios and writes
 * bench/results/native-relay.json.
 */
import { execFile, fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { loadNativeEngine, type NativeRelayEngine } from '../src/relay/native/index.js';
import { haproxyConfig } from './lib/baselines.js';
import { freePort } from './lib/ports.js';

type EngineName = 'native' | 'native-64k' | 'pipe' | 'haproxy';
interface Usage {
  readonly cpuUs: number;
  readonly rss: number;
  readonly live: number;
  readonly pipesInUse: number;
}
type ToChild = { type: 'usage' } | { type: 'gc' };
type FromChild = { type: 'port'; port: number } | ({ type: 'usage' } & Usage);

const self = fileURLToPath(import.meta.url);

// ── relay process ──────────────────────────────────────────────────────────────────────────────────────────────
async function relayProcess(engineName: EngineName, targetPort: number): Promise<void> {
  let engine: NativeRelayEngine | null = null;
  if (engineName !== 'pipe') {
    const load = loadNativeEngine(engineName === 'native-64k' ? { pipeSize: 65536 } : {});
    if (!load.ok) throw new Error(load.reason);
    engine = load.engine as NativeRelayEngine;
  }
  let live = 0;
  const server = net.createServer({ allowHalfOpen: true }, function onClient(client) {
    const target = net.connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true });
    client.on('error', () => target.destroy());
    target.on('error', () => client.destroy());
    target.once('connect', function onTarget() {
      live++;
      if (engine !== null) {
        engine.start(client, target, { idleTimeoutMs: 0, halfCloseTimeoutMs: 5000, rateLimit: null }, () => live--);
      } else {
        client.pipe(target);
        target.pipe(client);
        client.once('close', () => {
          live--;
          target.destroy();
        });
      }
    });
  });
  server.listen(0, '127.0.0.1', () => process.send!({ type: 'port', port: (server.address() as AddressInfo).port }));
  process.on('message', (msg: ToChild) => {
    if (msg.type === 'gc') (globalThis as { gc?: () => void }).gc?.();
    const cpu = process.cpuUsage();
    process.send!({
      type: 'usage',
      cpuUs: cpu.user + cpu.system,
      rss: process.memoryUsage.rss(),
      live,
      pipesInUse: engine?.nativeStats().pipesInUse ?? 0,
    } satisfies FromChild);
  });
  process.once('disconnect', () => process.exit(0));
}

// ── idle peer process: a target server and N idle clients through the relay ────────────────────────────────────
async function idlePeerProcess(relayPort: number, count: number, targetPort: number): Promise<void> {
  const held: net.Socket[] = [];
  for (let i = 0; i < count; i++) {
    const s = net.connect({ port: relayPort, host: '127.0.0.1', allowHalfOpen: true });
    s.on('error', () => {});
    held.push(s);
    if (i % 200 === 199) await new Promise((r) => setTimeout(r, 20));
  }
  process.send!({ type: 'ready', targetPort });
  process.once('disconnect', () => process.exit(0));
}

// ── churn load process: an echo target and short connections through the relay, for a fixed time ─────────────
async function churnLoadProcess(): Promise<void> {
  const echo = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  process.send!({ type: 'echo', port: (echo.address() as AddressInfo).port });
  const { relayPort, seconds, concurrency } = await new Promise<{
    relayPort: number; seconds: number; concurrency: number;
  }>((r) => process.once('message', r as (m: unknown) => void));
  let done = 0;
  let failed = 0;
  const deadline = performance.now() + seconds * 1000;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const s = net.connect({ port: relayPort, host: '127.0.0.1', allowHalfOpen: true });
      s.on('error', () => {
        failed++;
        resolve();
      });
      s.once('connect', () => s.end('ping'));
      s.on('data', () => {});
      s.once('end', () => {
        s.destroy();
        done++;
        resolve();
      });
    });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) await one();
    }),
  );
  process.send!({ type: 'churn', perSec: done / seconds, failed });
  echo.close();
  process.once('disconnect', () => process.exit(0));
}

async function churnRound(engine: EngineName, seconds: number): Promise<number> {
  const load = fork(self, ['churn-load'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const echoPort = await new Promise<number>((r) => load.once('message', (m: { port: number }) => r(m.port)));
  const relay = engine === 'haproxy' ? await startHaproxy(echoPort) : await startRelay(engine, echoPort);
  load.send({ relayPort: relay.port, seconds, concurrency: 64 });
  const result = await new Promise<{ perSec: number; failed: number }>((r) => {
    load.once('message', r as (m: unknown) => void);
  });
  relay.child.kill();
  load.kill();
  return result.perSec;
}

// ── orchestrator ───────────────────────────────────────────────────────────────────────────────────────────────
function startRelay(engine: EngineName, targetPort: number): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(self, ['relay', engine, String(targetPort)], {
    execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (m: FromChild) => {
      if (m.type === 'port') resolve({ child, port: m.port });
      else reject(new Error('bad message'));
    });
    child.once('exit', (code) => reject(new Error(`relay exited ${code}`)));
  });
}

function usage(child: ChildProcess, gc = false): Promise<Usage> {
  return new Promise((resolve) => {
    child.once('message', (m: FromChild) => resolve(m as Usage));
    child.send({ type: gc ? 'gc' : 'usage' } satisfies ToChild);
  });
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { maxBuffer: 64 << 20 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
}

/** HAProxy tuned as the issue describes (forced splice, 1 MiB pipes), one thread. */
async function startHaproxy(targetPort: number): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const cfg = join(mkdtempSync(join(tmpdir(), 'tidegate-haproxy-')), 'haproxy.cfg');
  writeFileSync(cfg, haproxyConfig([port], [targetPort], { threads: 1 }));
  const child = spawn('haproxy', ['-f', cfg, '-db'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  return { child, port };
}

/** CPU seconds (user + system) of a process, from /proc. */
function procCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / 100) * 1e6;
}

async function throughputRound(engine: EngineName, bytes: number): Promise<{ gbps: number; cpuPerGiB: number }> {
  const targetPort = await freePort();
  const server = spawn('iperf3', ['-s', '-1', '-p', String(targetPort)], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  const relay = engine === 'haproxy' ? await startHaproxy(targetPort) : await startRelay(engine, targetPort);
  const cpu = async (): Promise<number> => (
    engine === 'haproxy' ? procCpuUs(relay.child.pid!) : (await usage(relay.child)).cpuUs
  );
  const before = { cpuUs: await cpu() };
  const out = await run(
    'iperf3', ['-c', '127.0.0.1', '-p', String(relay.port), '-n', String(bytes), '-l', '1M', '-Z', '-J'],
  );
  const after = { cpuUs: await cpu() };
  relay.child.kill();
  server.kill();
  const report = JSON.parse(out) as { end: { sum_received: { bytes: number; bits_per_second: number } } };
  const moved = report.end.sum_received.bytes;
  return {
    gbps: report.end.sum_received.bits_per_second / 1e9,
    cpuPerGiB: (after.cpuUs - before.cpuUs) / 1e6 / (moved / 2 ** 30),
  };
}

async function idleRound(engine: EngineName, count: number): Promise<{ bytesPerConn: number; pipesInUse: number }> {
  // The target is a plain server here; it just holds the connections.
  const accepted = new Set<net.Socket>();
  const target = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    accepted.add(s);
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  const targetPort = (target.address() as AddressInfo).port;
  const relay = await startRelay(engine, targetPort);
  await usage(relay.child, true);
  const base = await usage(relay.child, true);
  const peer = fork(self, ['idle-peer', String(relay.port), String(count), String(targetPort)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise((r) => peer.once('message', r));
  let now = await usage(relay.child);
  while (now.live < count) {
    await new Promise((r) => setTimeout(r, 100));
    now = await usage(relay.child);
  }
  await new Promise((r) => setTimeout(r, 300));
  await usage(relay.child, true);
  const after = await usage(relay.child, true);
  peer.kill();
  relay.child.kill();
  const closed = new Promise<void>((r) => target.close(() => r()));
  for (const s of accepted) s.destroy();
  await closed;
  return { bytesPerConn: (after.rss - base.rss) / count, pipesInUse: after.pipesInUse };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const gib = Number(process.argv[2] ?? 2);
  const rounds = Number(process.argv[3] ?? 3);
  const idleCount = Number(process.argv[4] ?? 5000);
  const engines: EngineName[] = ['pipe', 'native', 'native-64k'];
  if (existsSync('/usr/sbin/haproxy') || existsSync('/usr/bin/haproxy')) engines.push('haproxy');
  const results: Record<string, { gbps: number[]; cpuPerGiB: number[] }> = {};
  for (const e of [...engines, 'haproxy']) results[e] = { gbps: [], cpuPerGiB: [] };
  for (let r = 0; r < (gib > 0 ? rounds : 0); r++) {
    for (const e of engines) {
      const res = await throughputRound(e, gib * 2 ** 30);
      results[e]!.gbps.push(res.gbps);
      results[e]!.cpuPerGiB.push(res.cpuPerGiB);
      console.log(`round ${r + 1} ${e}: ${res.gbps.toFixed(2)} Gbit/s, ${res.cpuPerGiB.toFixed(3)} CPU-s/GiB`);
    }
  }
  const summary: Record<string, unknown> = {};
  for (const e of engines) {
    summary[e] = {
      gbpsMedian: median(results[e]!.gbps), cpuPerGiBMedian: median(results[e]!.cpuPerGiB), ...results[e],
    };
  }
  const ratio = gib > 0 ? median(results['native']!.gbps) / median(results['pipe']!.gbps) : 0;
  const slowRatio = gib > 0 ? median(results['native-64k']!.gbps) / median(results['native']!.gbps) : 0;
  if (gib > 0) {
    console.log(
      `native / pipe throughput: ${ratio.toFixed(2)}x; ` +
        `native CPU ${median(results['native']!.cpuPerGiB).toFixed(3)} s/GiB ` +
        `vs pipe ${median(results['pipe']!.cpuPerGiB).toFixed(3)} s/GiB`,
    );
  }
  if (results['haproxy']!.gbps.length > 0) {
    const haproxyRatio = median(results['native']!.gbps) / median(results['haproxy']!.gbps);
    console.log(
      `native / haproxy (splice, 1 MiB pipes): ${haproxyRatio.toFixed(2)}x throughput; ` +
        `haproxy CPU ${median(results['haproxy']!.cpuPerGiB).toFixed(3)} s/GiB`,
    );
  }
  if (gib > 0) console.log(`TIDEGATE_PIPE_SIZE=65536 / 1 MiB pipes: ${slowRatio.toFixed(2)}x`);
  const churn: Record<string, number[]> = {};
  for (let r = 0; r < (gib > 0 ? rounds : 0); r++) {
    for (const e of engines.filter((x) => x !== 'native-64k')) {
      const perSec = await churnRound(e, 3);
      (churn[e] ??= []).push(perSec);
      console.log(`churn round ${r + 1} ${e}: ${perSec.toFixed(0)} conn/s`);
    }
  }
  const churnMedians = Object.fromEntries(Object.entries(churn).map(([e, xs]) => [e, median(xs)]));
  if (gib > 0) {
    console.log(
      `churn native / pipe: ${(churnMedians['native']! / churnMedians['pipe']!).toFixed(2)}x` +
        (churnMedians['haproxy']
          ? `; native / haproxy: ${(churnMedians['native']! / churnMedians['haproxy']).toFixed(2)}x`
          : ''),
    );
  }
  const idleNative = await idleRound('native', idleCount);
  const idlePipe = await idleRound('pipe', idleCount);
  console.log(
    `idle ${idleCount}: native ${(idleNative.bytesPerConn / 1024).toFixed(2)} KiB/conn ` +
      `(pipes held ${idleNative.pipesInUse}), pipe ${(idlePipe.bytesPerConn / 1024).toFixed(2)} KiB/conn`,
  );
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(
    'bench/results/native-relay.json',
    JSON.stringify({
      at: new Date().toISOString(), gibPerRound: gib, rounds, note: 'shared 2-core machine', throughput: summary, ratio,
      churn: { rounds: churn, medians: churnMedians }, smallPipeRatio: slowRatio,
      idle: { count: idleCount, native: idleNative, pipe: idlePipe },
    }, null, 2) + '\n',
  );
}

const mode = process.argv[2];
if (mode === 'relay') await relayProcess(process.argv[3] as EngineName, Number(process.argv[4]));
else if (mode === 'churn-load') await churnLoadProcess();
else if (mode === 'idle-peer') {
  await idlePeerProcess(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
}
else await main();
