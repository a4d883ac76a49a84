/**
 * How far a byte quota overshoots: two parallel downloads through a `forward` service whose user has a 10 MiB `out`
 * quota, on each relay engine, a few runs each. Reports the bytes each run delivered to the clients.
 *
 *   node dist/bench/quota-overshoot.js [runs=3] [quota MiB=10] [connections=2]
 *   node dist/bench/quota-overshoot.js --cost [rounds=5] [MiB per round=1024]
 *
 * The source writes as fast as the connection takes it, from its own process (so the JS engine does not share an event
 * loop with it). Writes bench/results/quota-overshoot.json.
 *
 * `--cost`: what enforcing a quota costs. One download per round through a user with no quota and through a user with
 * a quota it never reaches, interleaved; the client runs in the source's process, so this process's CPU time (the
 * native engine's thread included) is tidegate's alone. Writes bench/results/quota-cost.json.
 */
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { documentToConfig } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import type { RelayEngine } from '../src/contracts/relay-engine.js';
import { JsRelayEngine } from '../src/relay/js/engine.js';
import { loadNativeEngine } from '../src/relay/native/index.js';
import { Runtime } from '../src/runtime/runtime.js';

const MiB = 1024 * 1024;
const self = fileURLToPath(import.meta.url);

/** Child process: a source that writes as fast as each connection takes it until the peer goes away. */
function sourceProcess(): void {
  process.on('message', (m: { download: number; bytes: number }) => {
    const t0 = performance.now();
    let got = 0;
    const socket = connect({ port: m.download, host: '127.0.0.1' });
    socket.on('data', (c: Buffer) => {
      got += c.length;
      if (got >= m.bytes) socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.once('close', () => process.send!({ bytes: got, ms: performance.now() - t0 }));
  });
  const chunk = Buffer.alloc(256 * 1024, 7);
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.resume();
    const pump = (): void => {
      while (!socket.destroyed && socket.write(chunk));
    };
    socket.on('drain', pump);
    pump();
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
}

function download(port: number): Promise<number> {
  return new Promise((resolve) => {
    let bytes = 0;
    const socket: Socket = connect({ port, host: '127.0.0.1' });
    socket.on('data', (c: Buffer) => (bytes += c.length));
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(bytes));
  });
}

async function run(engine: RelayEngine, sourcePort: number, quotaMiB: number, connections: number): Promise<number> {
  const config = documentToConfig({
    admin: { listen: 'off' },
    store: { sqlite: 'off' },
    log: { level: 'silent' },
    shutdownGrace: '2s',
    users: [{ id: 'alice', quota: { bytes: `${quotaMiB}MiB`, direction: 'out' } }],
    services: [
      { name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'alice', targets: [`127.0.0.1:${sourcePort}`] },
    ],
  }, 'bench');
  const runtime = await Runtime.start(config, { log: createLogger('silent'), engine });
  try {
    const port = Number(runtime.status().services[0]!.listen.split(':').pop());
    const received = await Promise.all(Array.from({ length: connections }, () => download(port)));
    return received.reduce((a, b) => a + b, 0);
  } finally {
    await runtime.shutdown();
  }
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 3);
  const quotaMiB = Number(process.argv[3] ?? 10);
  const connections = Number(process.argv[4] ?? 2);
  const source = fork(self, ['--source'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const sourcePort = await new Promise<number>((resolve) => {
    source.once('message', (m: { port: number }) => resolve(m.port));
  });
  const engines: Array<{ kind: string; create: () => RelayEngine }> = [
    { kind: 'js', create: () => new JsRelayEngine() },
  ];
  const probe = loadNativeEngine();
  if (probe.ok) {
    await probe.engine.shutdown();
    engines.unshift({
      kind: 'native',
      create: () => {
        const l = loadNativeEngine();
        if (!l.ok) throw new Error(l.reason);
        return l.engine;
      },
    });
  }
  const startedAt = new Date();
  const load = loadavg()[0] ?? 0;
  const results: Record<string, { deliveredBytes: number[]; overshootBytes: number[]; maxOvershootMiB: number }> = {};
  try {
    for (const e of engines) {
      const delivered: number[] = [];
      for (let i = 0; i < runs; i++) delivered.push(await run(e.create(), sourcePort, quotaMiB, connections));
      const overshoot = delivered.map((b) => b - quotaMiB * MiB);
      results[e.kind] = {
        deliveredBytes: delivered, overshootBytes: overshoot, maxOvershootMiB: Math.max(...overshoot) / MiB,
      };
      console.log(
        `${e.kind}: delivered ${delivered.map((b) => (b / MiB).toFixed(2)).join(', ')} MiB ` +
          `(quota ${quotaMiB} MiB, ${connections} connections)`,
      );
    }
  } finally {
    source.kill();
  }
  const dir = join(self, '..', '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'quota-overshoot.json'), JSON.stringify({
    scenario: 'quota-overshoot',
    description: `${connections} parallel downloads through a forward service with a ${quotaMiB} MiB out quota; ` +
      'bytes delivered per run',
    startedAt: startedAt.toISOString(),
    quotaBytes: quotaMiB * MiB,
    connections,
    runs,
    allowedOvershootBytes: connections * 256 * 1024,
    machine: { cpus: cpus().length, node: process.version, loadavgStart: load, loadavgEnd: loadavg()[0] ?? 0 },
    engines: results,
  }, null, 2) + '\n');
}

async function cost(): Promise<void> {
  const args = process.argv.slice(3);
  const rounds = Number(args[0] ?? 5);
  const bytes = Number(args[1] ?? 1024) * MiB;
  const source = fork(self, ['--source'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const sourcePort = await new Promise<number>((resolve) => {
    source.once('message', (m: { port: number }) => resolve(m.port));
  });
  const engines: Array<{ kind: string; create: () => RelayEngine }> = [
    { kind: 'js', create: () => new JsRelayEngine() },
  ];
  const probe = loadNativeEngine();
  if (probe.ok) {
    await probe.engine.shutdown();
    engines.unshift({
      kind: 'native',
      create: () => {
        const l = loadNativeEngine();
        if (!l.ok) throw new Error(l.reason);
        return l.engine;
      },
    });
  }
  const results: Record<string, Record<string, { cpuSecPerGiB: number[]; gbitPerSec: number[] }>> = {};
  try {
    for (const e of engines) {
      const config = documentToConfig({
        admin: { listen: 'off' }, store: { sqlite: 'off' }, log: { level: 'silent' }, shutdownGrace: '2s',
        users: [{ id: 'free' }, { id: 'metered', quota: { bytes: '1000TiB', direction: 'total' } }],
        services: [
          { name: 'free', type: 'forward', listen: '127.0.0.1:0', user: 'free', targets: [`127.0.0.1:${sourcePort}`] },
          {
            name: 'metered', type: 'forward', listen: '127.0.0.1:0', user: 'metered',
            targets: [`127.0.0.1:${sourcePort}`],
          },
        ],
      }, 'bench');
      const runtime = await Runtime.start(config, { log: createLogger('silent'), engine: e.create() });
      const byPath: Record<string, { cpuSecPerGiB: number[]; gbitPerSec: number[] }> = {
        noQuota: { cpuSecPerGiB: [], gbitPerSec: [] }, quota: { cpuSecPerGiB: [], gbitPerSec: [] },
      };
      try {
        const portOf = (name: string): number => (
          Number(runtime.status().services.find((s) => s.name === name)!.listen.split(':').pop())
        );
        for (let round = 0; round < rounds; round++) {
          const order = round % 2 === 0 ? ['free', 'metered'] : ['metered', 'free'];
          for (const name of order) {
            const before = process.cpuUsage();
            source.send({ download: portOf(name), bytes });
            const done = await new Promise<{ bytes: number; ms: number }>((resolve) => source.once('message', resolve));
            const used = process.cpuUsage(before);
            const path = byPath[name === 'free' ? 'noQuota' : 'quota']!;
            path.cpuSecPerGiB.push(((used.user + used.system) / 1e6) / (done.bytes / (1024 * MiB)));
            path.gbitPerSec.push((done.bytes * 8) / (done.ms / 1000) / 1e9);
          }
        }
      } finally {
        await runtime.shutdown();
      }
      results[e.kind] = byPath;
      const med = (v: number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1]!;
      const ratio = med(byPath.quota!.cpuSecPerGiB) / med(byPath.noQuota!.cpuSecPerGiB);
      console.log(
        `${e.kind}: CPU s/GiB no quota ${med(byPath.noQuota!.cpuSecPerGiB).toFixed(3)}, ` +
          `quota ${med(byPath.quota!.cpuSecPerGiB).toFixed(3)} (${ratio.toFixed(3)}x); ` +
          `Gbit/s ${med(byPath.noQuota!.gbitPerSec).toFixed(2)} vs ${med(byPath.quota!.gbitPerSec).toFixed(2)}`,
      );
    }
  } finally {
    source.kill();
  }
  const dir = join(self, '..', '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'quota-cost.json'), JSON.stringify({
    scenario: 'quota-cost',
    description: `one ${bytes / MiB} MiB download per round through a user without a quota and one with a quota ` +
      'it never reaches; tidegate CPU per GiB (medians printed)',
    rounds,
    machine: { cpus: cpus().length, node: process.version, loadavg: loadavg()[0] ?? 0 },
    engines: results,
  }, null, 2) + '\n');
}

if (process.argv.includes('--source')) sourceProcess();
else if (process.argv.includes('--cost')) await cost();
else await main();
