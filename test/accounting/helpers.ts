import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../src/accounting/period.js';
import { createLogger } from '../../src/log.js';
import type { RelayRecord } from '../../src/contracts/records.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { listen, sleep, type TestServer } from '../helpers/servers.js';
import { availableEngines, testConfig, type EngineFactory } from '../helpers/tidegate.js';

// Generic helpers the accounting tests use as they are.
export { connectTo, echoServer, sleep, type TestServer } from '../helpers/servers.js';
export { testConfig, type EngineFactory } from '../helpers/tidegate.js';

/** The shared engines, minus the native one when TIDEGATE_RELAY=js forces the JS engine. */
export function engines(): EngineFactory[] {
  const all = availableEngines();
  return process.env.TIDEGATE_RELAY === 'js' ? all.filter((e) => e.kind === 'js') : all;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'tidegate-acc-'));
}

export interface Running {
  readonly runtime: Runtime;
  readonly records: RelayRecord[];
  port(service: string): number;
  stop(): Promise<void>;
}

export async function startTidegate(
  doc: Record<string, unknown>,
  options: { engine?: EngineFactory; clock?: Clock; redisPrefix?: string } = {},
): Promise<Running> {
  const runtime = await Runtime.start(testConfig(doc), {
    log: createLogger('silent'),
    engine: (options.engine ?? engines()[0]!).create(),
    clock: options.clock,
    redisPrefix: options.redisPrefix,
  });
  const records: RelayRecord[] = [];
  runtime.onRelayClosed((r) => records.push(r));
  return {
    runtime,
    records,
    port(name) {
      const s = runtime.status().services.find((x) => x.name === name);
      if (!s) throw new Error(`no service ${name}`);
      return Number(s.listen.split(':').pop());
    },
    stop: () => runtime.shutdown(),
  };
}

/** A target that writes as fast as the connection takes it until the peer goes away. */
export function firehose(): Promise<TestServer> {
  const chunk = Buffer.alloc(64 * 1024, 7);
  return listen((socket) => {
    socket.resume();
    function pump(): void {
      while (!socket.destroyed && socket.write(chunk));
    }
    socket.on('drain', pump);
    pump();
  });
}

/** A target that swallows everything and counts it; `received()` is the byte count so far. */
export async function sink(): Promise<TestServer & { received(): number }> {
  let total = 0;
  const server = await listen((socket) => {
    socket.on('data', (c: Buffer) => (total += c.length));
    socket.on('end', () => socket.end());
  });
  return Object.assign(server, { received: () => total });
}

/** Writes `total` bytes with backpressure. */
export async function sendBytes(socket: Socket, total: number): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 1);
  let sent = 0;
  while (sent < total) {
    const n = Math.min(chunk.length, total - sent);
    sent += n;
    if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) await once(socket, 'drain');
  }
}

/** Counts bytes received until the peer ends or resets the connection (then closes our side too). */
export function countUntilClose(socket: Socket): Promise<number> {
  return new Promise((resolve) => {
    let bytes = 0;
    socket.on('data', (c: Buffer) => (bytes += c.length));
    socket.on('error', () => undefined);
    socket.once('end', () => socket.destroy());
    socket.once('close', () => resolve(bytes));
  });
}

/** Polls `read` until `done` says yes (bounded by `timeoutMs`); returns the last value read. */
export async function eventually<T>(read: () => T | Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await sleep(50);
  }
}

export async function getJson(address: string, path: string): Promise<{ status: number; body: any; text: string }> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let body: unknown = null;
        try {
          body = JSON.parse(text);
        } catch {
          /* text endpoints */
        }
        resolve({ status: res.statusCode ?? 0, body, text });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** A `tidegate start` child process; `admin` and `services` come from its log lines. */
export interface Child {
  readonly process: ChildProcess;
  readonly admin: string;
  readonly services: Map<string, string>;
  readonly output: string[];
  exited(): Promise<number | null>;
}

const CLI = new URL('../../src/cli.js', import.meta.url).pathname;

export async function startChild(configFile: string, env: Record<string, string> = {}): Promise<Child> {
  const child = spawn(process.execPath, [CLI, 'start', '--config', configFile], {
    // TIDEGATE_RELAY passes through: unset, the child runs the native engine when the addon is built.
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const services = new Map<string, string>();
  let admin = '';
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  let buffered = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => output.push(c.toString()));
    child.stdout!.on('data', (c: Buffer) => {
      buffered += c.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        output.push(line);
        try {
          const entry = JSON.parse(line) as { msg?: string; service?: string; listen?: string };
          if (entry.msg === 'service listening' && entry.service && entry.listen) services.set(entry.service, entry.listen);
          if (entry.msg === 'admin API listening' && entry.listen) {
            admin = entry.listen;
            resolve();
          }
        } catch {
          /* not JSON */
        }
      }
    });
    void exit.then((code) => reject(new Error(`tidegate exited with ${code} before it was ready:\n${output.join('\n')}`)));
  });
  return { process: child, admin, services, output, exited: () => exit };
}
