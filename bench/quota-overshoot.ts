/**
 * How far a byte quota overshoots: two parallel downloads through a `forward` service whose user has a 10 MiB `out`
 * quota, on each relay engine, a few runs each. Reports the bytes each run delivered to the clients.
 *
 *   node dist/bench/quota-overshoot.js [runs=3] [quota MiB=10] [connections=2]
 *
 * The source writes as fast as the connection takes it, from its own process (so the JS engine does not share an event
 * loop with it). Writes bench/results/quota-overshoot.json.
 */
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { documentToConfig } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import type { RelayEngine } from '../src/relay/engine.js';
import { JsRelayEngine } from '../src/relay/js/engine.js';
import { loadNativeEngine } from '../src/relay/native/index.js';
import { Runtime } from '../src/runtime/runtime.js';

const MiB = 1024 * 1024;
const self = fileURLToPath(import.meta.url);

/** Child process: a source that writes as fast as each connection takes it until the peer goes away. */
function sourceProcess(): void {
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
    services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'alice', targets: [`127.0.0.1:${sourcePort}`] }],
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
  const sourcePort = await new Promise<number>((resolve) => source.once('message', (m: { port: number }) => resolve(m.port)));
  const engines: Array<{ kind: string; create: () => RelayEngine }> = [{ kind: 'js', create: () => new JsRelayEngine() }];
  const probe = loadNativeEngine();
  if (probe.ok) {
    await probe.engine.shutdown();
    engines.unshift({ kind: 'native', create: () => { const l = loadNativeEngine(); if (!l.ok) throw new Error(l.reason); return l.engine; } });
  }
  const startedAt = new Date();
  const load = loadavg()[0] ?? 0;
  const results: Record<string, { deliveredBytes: number[]; overshootBytes: number[]; maxOvershootMiB: number }> = {};
  try {
    for (const e of engines) {
      const delivered: number[] = [];
      for (let i = 0; i < runs; i++) delivered.push(await run(e.create(), sourcePort, quotaMiB, connections));
      const overshoot = delivered.map((b) => b - quotaMiB * MiB);
      results[e.kind] = { deliveredBytes: delivered, overshootBytes: overshoot, maxOvershootMiB: Math.max(...overshoot) / MiB };
      console.log(`${e.kind}: delivered ${delivered.map((b) => (b / MiB).toFixed(2)).join(', ')} MiB (quota ${quotaMiB} MiB, ${connections} connections)`);
    }
  } finally {
    source.kill();
  }
  const dir = join(self, '..', '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'quota-overshoot.json'), JSON.stringify({
    scenario: 'quota-overshoot',
    description: `${connections} parallel downloads through a forward service with a ${quotaMiB} MiB out quota; bytes delivered per run`,
    startedAt: startedAt.toISOString(),
    quotaBytes: quotaMiB * MiB,
    connections,
    runs,
    allowedOvershootBytes: connections * 256 * 1024,
    machine: { cpus: cpus().length, node: process.version, loadavgStart: load, loadavgEnd: loadavg()[0] ?? 0 },
    engines: results,
  }, null, 2) + '\n');
}

if (process.argv.includes('--source')) sourceProcess();
else await main();
