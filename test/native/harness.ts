import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import type { RelayRecord } from '../../src/contracts/records.js';
import type { Relay, RelayOptions, RelayResult } from '../../src/contracts/relay-engine.js';
import type { ServiceStatus } from '../../src/contracts/service-status.js';
import { loadNativeEngine, type NativeRelayEngine, type NativeEngineOptions } from '../../src/relay/native/index.js';
import { listen, type TestServer } from '../helpers/listen.js';
import { connectTo, readAll } from '../helpers/sockets.js';

/** Shared fixtures of the native relay tests: real servers on 127.0.0.1, a relay front that hands sockets over. */

const probe = loadNativeEngine();
/** Skip reason when the addon is not built; false when the tests can run. */
export const skipNative: string | false = probe.ok ? false
  : `native addon not built (${probe.reason}); run \`npx node-gyp rebuild\``;
if (probe.ok) await probe.engine.shutdown();

export function newEngine(options: NativeEngineOptions = {}): NativeRelayEngine {
  const load = loadNativeEngine(options);
  if (!load.ok) throw new Error(load.reason);
  return load.engine as NativeRelayEngine;
}

export const defaultOptions: RelayOptions = { idleTimeoutMs: 0, halfCloseTimeoutMs: 10_000, rateLimit: null };

export interface Closed {
  readonly relay: Relay;
  readonly result: RelayResult;
}

export interface Front {
  readonly server: TestServer;
  readonly port: number;
  /** Every relay started, in order. */
  readonly relays: Relay[];
  /** Every close, in order. */
  readonly closed: Closed[];
  /** Resolves with the close of relay number `index` (0-based, in start order). */
  closeOf(index: number): Promise<Closed>;
  /** Resolves once `count` relays have closed. */
  closedCount(count: number): Promise<void>;
}

export interface FrontOptions {
  readonly relay?: RelayOptions;
  /** Called with both sockets before the hand-over; the returned promise delays it (to let bytes get buffered). */
  readonly beforeStart?: (client: net.Socket, target: net.Socket) => Promise<void> | void;
}

/** A relay front: accepts clients, dials `targetPort`, hands both sockets to `engine`. */
export async function startFront(
  engine: NativeRelayEngine, targetPort: number, options: FrontOptions = {},
): Promise<Front> {
  const relays: Relay[] = [];
  const closed: Closed[] = [];
  const waiters: Array<() => void> = [];
  const byRelay = new Map<Relay, Closed>();
  const notify = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  const server = await listen((client) => {
    client.on('error', () => {});
    const target = net.connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true });
    target.on('error', () => client.destroy());
    target.once('connect', async () => {
      if (options.beforeStart) await options.beforeStart(client, target);
      const relay = engine.start(client, target, options.relay ?? defaultOptions, function onRelayClose(r, result) {
        const entry = { relay: r, result };
        if (byRelay.has(r)) throw new Error(`onClose fired twice for relay ${r.id}`);
        byRelay.set(r, entry);
        closed.push(entry);
        notify();
      });
      relays.push(relay);
      notify();
    });
  });
  const front: Front = {
    server,
    port: server.port,
    relays,
    closed,
    async closeOf(index) {
      for (;;) {
        const relay = relays[index];
        const entry = relay === undefined ? undefined : byRelay.get(relay);
        if (entry !== undefined) return entry;
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    async closedCount(count) {
      while (closed.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
    },
  };
  return front;
}

/** Reads a socket to its end; resolves with the bytes' count and sha256. */
export function drain(socket: net.Socket): Promise<{ bytes: number; sha256: string; head: Buffer }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bytes = 0;
    const head: Buffer[] = [];
    let headLen = 0;
    socket.on('data', function onDrainData(chunk: Buffer) {
      hash.update(chunk);
      bytes += chunk.length;
      if (headLen < 64) {
        head.push(chunk.subarray(0, 64 - headLen));
        headLen += Math.min(chunk.length, 64 - headLen);
      }
    });
    socket.once('end', () => resolve({ bytes, sha256: hash.digest('hex'), head: Buffer.concat(head) }));
    socket.once('error', reject);
  });
}

/** Deterministic pseudo-random bytes (not compressible, not repetitive at page size). */
export function pattern(size: number, seed: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf.writeUInt32LE(x >>> 0, i);
  }
  for (let i = size - (size % 4); i < size; i++) buf[i] = i & 0xff;
  return buf;
}

export function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** Writes `data` in chunks with backpressure, then ends the write side. */
export async function sendAll(socket: net.Socket, data: Buffer, chunk = 1 << 20): Promise<void> {
  for (let off = 0; off < data.length; off += chunk) {
    if (!socket.write(data.subarray(off, off + chunk))) await new Promise((resolve) => socket.once('drain', resolve));
  }
  socket.end();
}

export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Sends `payload`, half-closes, and resolves with what came back before the relay's FIN. */
export async function echoRound(port: number, payload: Buffer, host = '127.0.0.1'): Promise<Buffer> {
  const socket = await connectTo(port, host);
  const back = readAll(socket);
  socket.end(payload);
  return back;
}

/**
 * `rounds` echo rounds of random payloads (`size(i)` bytes) through `port`, `concurrency` at a time, each checked to
 * come back exactly; resolves with the bytes sent (each also came back).
 */
export async function echoRounds(
  port: number, rounds: number, concurrency: number, size: (round: number) => number,
): Promise<number> {
  let sent = 0;
  let next = 0;
  async function roundsInTurn(): Promise<void> {
    while (next < rounds) {
      const i = next++;
      const payload = randomBytes(size(i));
      sent += payload.length;
      const back = await echoRound(port, payload);
      assert.ok(back.equals(payload), `round ${i} echoed exactly`);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, roundsInTurn));
  return sent;
}

/** The kernel object behind an fd, e.g. `socket:[1234]` or `pipe:[99]`. */
export function fdTarget(fd: number): string {
  return readlinkSync(`/proc/self/fd/${fd}`);
}

/** The inode of the socket behind `fd` (what an epoll instance's fdinfo names it by). */
export function inodeOf(fd: number): number {
  const m = /^socket:\[(\d+)\]$/.exec(fdTarget(fd));
  assert.ok(m, `fd ${fd} is not a socket`);
  return Number(m[1]);
}

/** Socket inodes registered in the epoll instance `epfd` (from /proc/self/fdinfo). */
export function watchedInodes(epfd: number): number[] {
  const info = readFileSync(`/proc/self/fdinfo/${epfd}`, 'utf8');
  return [...info.matchAll(/^tfd:\s+\d+.*\sino:([0-9a-f]+)/gm)].map((m) => parseInt(m[1]!, 16));
}

/** Counts this process's open fds whose target starts with `prefix` (`pipe:`, `socket:`). */
export function countFds(prefix: string): number {
  let n = 0;
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`).startsWith(prefix)) n++;
    } catch {
      // closed between readdir and readlink
    }
  }
  return n;
}

/** What a client got back before the relay's FIN, or the error code its connection ended with. */
export function answerOf(socket: net.Socket): Promise<Buffer | string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

/**
 * After `rounds` echo rounds of `sent` bytes each way to `target`, all ended: each counted once, none refused or
 * live, bytes exact both ways, every record `done` at the target with an address:port client label.
 */
export function assertEchoRoundsCounted(
  status: ServiceStatus, records: readonly RelayRecord[], rounds: number, sent: number, target: string,
): void {
  assert.equal(status.connections.total, rounds);
  assert.equal(status.connections.refused, 0);
  assert.equal(status.connections.live, 0);
  assert.equal(status.bytes.in, sent);
  assert.equal(status.bytes.out, sent);
  assert.ok(records.every((r) => r.reason === 'done' && r.target === target));
  assert.ok(records.every((r) => /^127\.0\.0\.1:\d+$/.test(r.client)), 'client labels as address:port');
}
