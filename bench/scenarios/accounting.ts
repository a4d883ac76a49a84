/**
 * The accounting bench:
 *  - relay throughput through a tidegate child process with a user, a (non-binding) quota, live sampling and the
 *    ledger, against the same forward service with no user and no quota — interleaved round by round;
 *  - the time to flush 10,000 dirty users to the SQLite ledger (batchSize 500, WAL), with and without a periodic
 *    quota (two ledger rows per user instead of one).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Accounting } from '../../src/accounting/accounting.js';
import { documentToConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { JsRelayEngine } from '../../src/relay/js/engine.js';
import { openDatabase } from '../../src/store/database.js';
import type { BenchContext, BenchMetric, BenchReport, BenchScenario } from '../types.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const STREAMS = 4;
const USERS = 10_000;

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function metric(name: string, path: string, unit: string, better: 'higher' | 'lower', samples: number[]): BenchMetric {
  return { name, path, unit, better, samples, median: median(samples) };
}

/** Counts every byte it receives. */
async function startSink(): Promise<{ server: Server; port: number; received(): number }> {
  let total = 0;
  const server = createServer((socket) => {
    socket.on('data', (c: Buffer) => (total += c.length));
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, received: () => total };
}

interface Child {
  readonly process: ChildProcess;
  readonly port: number;
}

async function startTidegate(dir: string, name: string, withAccounting: boolean, sinkPort: number): Promise<Child> {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({
    admin: { listen: 'off' },
    log: { level: 'info' },
    store: { sqlite: join(dir, `${name}.db`) },
    users: withAccounting ? [{ id: 'alice', quota: { bytes: '1000TiB', period: 'monthly' } }] : [],
    services: [{
      name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [`127.0.0.1:${sinkPort}`],
      ...(withAccounting ? { user: 'alice' } : {}),
    }],
  }));
  const child = spawn(process.execPath, [CLI, 'start', '--config', file], {
    env: { ...process.env, TIDEGATE_RELAY: process.env.TIDEGATE_RELAY ?? 'auto' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // The bound port (the config asks for port 0) comes from the 'service listening' log line.
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /"service":"fwd"[^\n]*"listen":"127\.0\.0\.1:(\d+)"/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`tidegate exited with ${code}: ${out}`)));
  });
  return { process: child, port };
}

/** STREAMS connections pumping 64 KiB writes for `ms`; returns bytes/s the sink received. */
async function pump(port: number, sink: { received(): number }, ms: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 3);
  const sockets: Socket[] = [];
  let running = true;
  for (let i = 0; i < STREAMS; i++) {
    const socket = connect({ port, host: '127.0.0.1' });
    await once(socket, 'connect');
    socket.on('error', () => undefined);
    const write = (): void => {
      while (running && socket.write(chunk));
    };
    socket.on('drain', write);
    sockets.push(socket);
    write();
  }
  await new Promise((r) => setTimeout(r, 300));
  const start = sink.received();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const bytes = sink.received() - start;
  const seconds = (performance.now() - t0) / 1000;
  running = false;
  for (const s of sockets) s.destroy();
  return bytes / seconds;
}

async function flushTime(dir: string, round: number, periodic: boolean): Promise<number> {
  const file = join(dir, `flush-${periodic ? 'p' : 'n'}-${round}.db`);
  const db = await openDatabase(file);
  const users = Array.from({ length: USERS }, (_, i) => (
    periodic ? { id: `u${i}`, quota: { bytes: '1TiB', period: 'monthly' } } : { id: `u${i}` }
  ));
  const config = documentToConfig({
    admin: { listen: 'off' }, log: { level: 'silent' },
    store: { sqlite: file, sync: { interval: '1h', batchSize: 500, maxPending: 1_000_000 } },
    users, services: [],
  }, 'bench');
  const accounting = await Accounting.open(config, { log: createLogger('silent'), engine: new JsRelayEngine(), db });
  // Rows exist after the first flush: the measured flush is the steady state (updates of existing rows).
  for (let i = 0; i < USERS; i++) accounting.addRequest(`u${i}`, 'svc', 10);
  await accounting.flush();
  for (let i = 0; i < USERS; i++) accounting.addRequest(`u${i}`, 'svc', 10);
  const t0 = performance.now();
  await accounting.flush();
  const ms = performance.now() - t0;
  await accounting.close();
  db.close();
  return ms;
}

export const scenario: BenchScenario = {
  name: 'accounting',
  description: 'relay throughput with per-user accounting and a non-binding quota vs none; ' +
    'ledger flush time for 10,000 dirty users',
  async run(context: BenchContext): Promise<BenchReport> {
    const dir = mkdtempSync(join(tmpdir(), 'tidegate-bench-acc-'));
    const rounds = Math.max(3, context.rounds);
    const ms = context.quick ? 1_000 : 3_000;
    const sink = await startSink();
    const on = await startTidegate(dir, 'on', true, sink.port);
    const off = await startTidegate(dir, 'off', false, sink.port);
    const withAcc: number[] = [];
    const without: number[] = [];
    try {
      for (let r = 0; r < rounds; r++) {
        // Interleaved, alternating which goes first.
        const order = r % 2 === 0 ? [true, false] : [false, true];
        for (const accounting of order) {
          const bps = await pump(accounting ? on.port : off.port, sink, ms);
          (accounting ? withAcc : without).push(bps / 1e6);
        }
        context.log(
          `round ${r + 1}/${rounds}: with accounting ${withAcc.at(-1)!.toFixed(0)} MB/s, ` +
            `without ${without.at(-1)!.toFixed(0)} MB/s`,
        );
      }
    } finally {
      on.process.kill('SIGTERM');
      off.process.kill('SIGTERM');
      sink.server.close();
    }
    const flushPlain: number[] = [];
    const flushPeriodic: number[] = [];
    for (let r = 0; r < rounds; r++) {
      flushPlain.push(await flushTime(dir, r, false));
      flushPeriodic.push(await flushTime(dir, r, true));
      context.log(
        `flush of ${USERS} dirty users: ${flushPlain.at(-1)!.toFixed(1)} ms (all-time rows), ` +
          `${flushPeriodic.at(-1)!.toFixed(1)} ms (with monthly rows)`,
      );
    }
    const metrics = [
      metric('throughput', 'accounting-quota', 'MB/s', 'higher', withAcc),
      metric('throughput', 'no-accounting', 'MB/s', 'higher', without),
      metric('flush10kUsers', 'all-time-rows', 'ms', 'lower', flushPlain),
      metric('flush10kUsers', 'all-time-and-monthly-rows', 'ms', 'lower', flushPeriodic),
    ];
    const cost = 1 - median(withAcc) / median(without);
    const flush = median(flushPeriodic);
    return {
      scenario: 'accounting',
      metrics,
      ratios: [
        {
          name: 'throughput with accounting / without', value: median(withAcc) / median(without), target: '>= 0.95',
          met: cost <= 0.05,
        },
        {
          name: 'flush of 10,000 dirty users (ms, monthly quota rows) / 100 ms budget', value: flush / 100,
          target: '<= 1', met: flush <= 100,
        },
      ],
      notes: [
        `${STREAMS} streams of 64 KiB writes for ${ms} ms per round, ${rounds} rounds, interleaved; ` +
          `tidegate in a child process (TIDEGATE_RELAY=${process.env.TIDEGATE_RELAY ?? 'auto'}), ` +
          'load and sink in the bench process.',
        'Measured on a shared 2-core machine: read the ratios, not the absolute numbers.',
      ],
    };
  },
};

/** `node dist/bench/scenarios/accounting.js` runs this scenario alone and writes bench/results/accounting.json. */
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const resultsDir = fileURLToPath(new URL('../../../bench/results/', import.meta.url));
  mkdirSync(resultsDir, { recursive: true });
  const report = await scenario.run({
    rounds: Number(process.env.ROUNDS ?? 5), quick: process.env.QUICK === '1', resultsDir, log: (m) => console.log(m),
  });
  writeFileSync(join(resultsDir, 'accounting.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify(report.ratios, null, 2));
}
