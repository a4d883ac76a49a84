import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type net from 'node:net';
import { defaultOptions, drain, newEngine, pattern, sendAll, sha256, skipNative, startFront } from './harness.js';
import { connectTo } from '../helpers/sockets.js';
import { listen } from '../helpers/listen.js';
import { eventually, sleep } from '../helpers/wait.js';
import type { NativeRelayEngine } from '../../src/relay/native/index.js';

interface Stall {
  readonly every: number;
  readonly ms: number;
}

/**
 * Makes a reader stop for `ms` after every `every` bytes, so the relay's destination fills and its splices into it
 * stop short: the direction then waits for the socket's room (EPOLLOUT) to come back.
 */
function stallEvery(socket: net.Socket, stall: Stall): void {
  let since = 0;
  socket.on('data', function onStallData(chunk: Buffer) {
    since += chunk.length;
    if (since < stall.every) return;
    since = 0;
    socket.pause();
    setTimeout(function resumeReader() {
      socket.resume();
    }, stall.ms);
  });
}

/**
 * A target that drains and answers `down`, a client that sends `up`: both directions through the engine, to the
 * close.
 */
async function relayBothWays(engine: NativeRelayEngine, up: Buffer, down: Buffer, stall?: Stall) {
  let targetGot: Promise<{ bytes: number; sha256: string }> | null = null;
  const target = await listen((socket) => {
    if (stall !== undefined) stallEvery(socket, stall);
    targetGot = drain(socket);
    void sendAll(socket, down);
  });
  const front = await startFront(engine, target.port);
  const client = await connectTo(front.port);
  if (stall !== undefined) stallEvery(client, stall);
  const clientGot = drain(client);
  await sendAll(client, up);
  const got = await clientGot;
  await eventually(() => targetGot !== null, 20_000, 'target connection');
  const upGot = await targetGot!;
  const { result } = await front.closeOf(0);
  return { target, front, upGot, got, result };
}

describe('native relay: bytes', { skip: skipNative, timeout: 120_000 }, () => {
  let engine: NativeRelayEngine;
  before(() => {
    engine = newEngine();
  });
  after(async () => {
    await engine.shutdown();
  });

  it('relays 64 MiB each way byte-exact and counts them in both directions', async () => {
    const up = pattern(64 << 20, 11);
    const down = pattern(64 << 20, 22);
    const { target, front, upGot, got, result } = await relayBothWays(engine, up, down);
    assert.equal(upGot.bytes, up.length);
    assert.equal(upGot.sha256, sha256(up));
    assert.equal(got.bytes, down.length);
    assert.equal(got.sha256, sha256(down));
    assert.deepEqual([result.bytesIn, result.bytesOut, result.reason], [up.length, down.length, 'done']);
    assert.ok(result.durationMs > 0);
    assert.equal(engine.nativeStats().pipesInUse, 0, 'a finished relay holds no pipe');
    await Promise.all([front.server.close(), target.close()]);
  });

  it('relays byte-exact both ways to readers that keep stopping (destinations full mid-stream)', async () => {
    const up = pattern(24 << 20, 31);
    const down = pattern(24 << 20, 32);
    const stall = { every: 3 << 20, ms: 30 };
    const { target, front, upGot, got, result } = await relayBothWays(engine, up, down, stall);
    assert.deepEqual([upGot.bytes, upGot.sha256], [up.length, sha256(up)]);
    assert.deepEqual([got.bytes, got.sha256], [down.length, sha256(down)]);
    assert.deepEqual([result.bytesIn, result.bytesOut, result.reason], [up.length, down.length, 'done']);
    await Promise.all([front.server.close(), target.close()]);
  });

  it('relays bytes both sockets buffered in Node before the hand-over first, in order', async () => {
    const banner = Buffer.from('SSH-2.0-tidegate-test\r\n');
    const early = Buffer.from('client-hello-before-handover;');
    const late = Buffer.from('after-handover');
    const targetSeen: Buffer[] = [];
    let targetEnded!: () => void;
    const targetDone = new Promise<void>((resolve) => (targetEnded = resolve));
    const target = await listen((socket) => {
      socket.write(banner);
      socket.on('data', (d: Buffer) => targetSeen.push(d));
      socket.on('end', () => {
        socket.end(Buffer.from('bye'));
        targetEnded();
      });
    });
    let buffered = { client: 0, target: 0 };
    const front = await startFront(engine, target.port, {
      async beforeStart(client: net.Socket, t: net.Socket) {
        // Let Node read the banner and the client's first bytes into its own buffers before the hand-over.
        await eventually(
          () => client.readableLength >= early.length && t.readableLength >= banner.length, 20_000, 'buffered bytes',
        );
        buffered = { client: client.readableLength, target: t.readableLength };
      },
    });
    const client = await connectTo(front.port);
    client.write(early);
    const got = drain(client);
    await eventually(() => front.relays.length === 1, 20_000, 'relay start');
    client.end(late);
    const received = await got;
    await targetDone;
    const { result } = await front.closeOf(0);
    assert.deepEqual(buffered, { client: early.length, target: banner.length });
    assert.equal(received.head.toString(), banner.toString() + 'bye');
    assert.equal(Buffer.concat(targetSeen).toString(), early.toString() + late.toString());
    assert.deepEqual(
      [result.bytesIn, result.bytesOut, result.reason], [early.length + late.length, banner.length + 3, 'done'],
    );
    await Promise.all([front.server.close(), target.close()]);
  });

  it('passes a half-close on and keeps the other direction flowing', async () => {
    const reply = pattern(3 << 20, 5);
    let targetSawEnd = false;
    const target = await listen((socket) => {
      socket.resume();
      socket.on('end', () => {
        targetSawEnd = true;
        // The client already half-closed; the reply must still reach it.
        void sendAll(socket, reply);
      });
    });
    const front = await startFront(engine, target.port);
    const client = await connectTo(front.port);
    const got = drain(client);
    await eventually(() => front.relays.length === 1, 20_000, 'relay start');
    client.end('request');
    const received = await got;
    const { result } = await front.closeOf(0);
    assert.ok(targetSawEnd);
    assert.equal(received.sha256, sha256(reply));
    assert.deepEqual([result.bytesIn, result.bytesOut, result.reason], [7, reply.length, 'done']);
    await Promise.all([front.server.close(), target.close()]);
  });

  it('ends a half-closed relay after halfCloseTimeoutMs', async () => {
    const target = await listen((socket) => {
      socket.resume(); // reads the EOF but never ends its side
    });
    const front = await startFront(engine, target.port, {
      relay: { idleTimeoutMs: 0, halfCloseTimeoutMs: 200, rateLimit: null },
    });
    const client = await connectTo(front.port);
    client.resume();
    const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await eventually(() => front.relays.length === 1, 20_000, 'relay start');
    client.end('x');
    const { result } = await front.closeOf(0);
    await clientClosed;
    assert.deepEqual([result.bytesIn, result.bytesOut, result.reason], [1, 0, 'half_close_timeout']);
    await Promise.all([front.server.close(), target.close()]);
  });
});

describe('native relay: copy fallback and other socket types', { skip: skipNative, timeout: 120_000 }, () => {
  it('copies byte-exact both ways with half-close when splice is refused (forced copy mode)', async () => {
    const engine = newEngine({ forceCopy: true });
    const up = pattern(16 << 20, 31);
    const down = pattern(16 << 20, 32);
    const { target, front, upGot, got, result } = await relayBothWays(engine, up, down);
    assert.deepEqual([upGot.bytes, upGot.sha256], [up.length, sha256(up)]);
    assert.deepEqual([got.bytes, got.sha256], [down.length, sha256(down)]);
    assert.deepEqual([result.bytesIn, result.bytesOut, result.reason], [up.length, down.length, 'done']);
    assert.equal(engine.nativeStats().pipesCreated, 0, 'copy mode uses no pipe');
    await engine.shutdown();
    await Promise.all([front.server.close(), target.close()]);
  });

  it('relays between a Unix-domain client and a TCP target', async () => {
    const { createServer, connect: netConnect } = await import('node:net');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { mkdtemp, rm } = await import('node:fs/promises');
    const engine = newEngine();
    const data = pattern(8 << 20, 41);
    const target = await listen((socket) => socket.pipe(socket));
    // A fresh directory: a socket file left by an earlier run (the same pid, reused) would make the listen fail.
    const dir = await mkdtemp(join(tmpdir(), 'tidegate-native-'));
    const path = join(dir, 'front.sock');
    const closes: string[] = [];
    const front = createServer({ allowHalfOpen: true }, (client) => {
      const t = netConnect({ port: target.port, host: '127.0.0.1', allowHalfOpen: true }, () => {
        engine.start(
          client, t, defaultOptions,
          (_r, result) => closes.push(`${result.reason}:${result.bytesIn}:${result.bytesOut}`),
        );
      });
    });
    await new Promise<void>((resolve) => front.listen(path, resolve));
    const client = netConnect({ path, allowHalfOpen: true });
    const echoed = drain(client);
    await sendAll(client, data);
    const got = await echoed;
    assert.deepEqual([got.bytes, got.sha256], [data.length, sha256(data)]);
    await eventually(() => closes.length === 1, 20_000, 'relay close');
    assert.deepEqual(closes, [`done:${data.length}:${data.length}`]);
    await engine.shutdown();
    // A net.Server's close() returns the server, not a promise: only the target's close is awaited, as before.
    front.close();
    await target.close();
    await rm(dir, { recursive: true, force: true });
  });
});

describe('native relay: writes still queued in Node at start', { skip: skipNative, timeout: 60_000 }, () => {
  it('hands over only after Node flushed them, so they arrive before relayed bytes', async () => {
    const engine = newEngine();
    const greeting = pattern(8 << 20, 51); // larger than the socket buffers: stays queued in Node for a while
    const target = await listen((socket) => {
      socket.write('from-target');
      socket.resume();
      socket.once('end', () => socket.end());
    });
    let queuedAtStart = 0;
    const front = await startFront(engine, target.port, {
      async beforeStart(client) {
        client.write(greeting);
        queuedAtStart = client.writableLength;
      },
    });
    const client = await connectTo(front.port);
    // Read slowly at first so the greeting is still queued in Node when the relay starts.
    client.pause();
    await eventually(() => front.relays.length === 1, 20_000, 'relay start');
    const got = drain(client);
    client.resume();
    client.end();
    const received = await got;
    const expected = Buffer.concat([greeting, Buffer.from('from-target')]);
    assert.ok(queuedAtStart > 0, 'the greeting was still queued in Node at start');
    assert.deepEqual([received.bytes, received.sha256], [expected.length, sha256(expected)]);
    const { result } = await front.closeOf(0);
    assert.deepEqual([result.bytesOut, result.reason], [11, 'done']);
    await engine.shutdown();
    await Promise.all([front.server.close(), target.close()]);
  });
});

describe('native relay: EOF Node already saw', { skip: skipNative, timeout: 60_000 }, () => {
  it('passes on a client EOF that arrived before the hand-over, after the bytes before it', async () => {
    const engine = newEngine();
    let targetGot: Promise<{ bytes: number; sha256: string; head: Buffer }> | null = null;
    const target = await listen((socket) => {
      targetGot = drain(socket);
      socket.once('end', () => socket.end('bye'));
    });
    const front = await startFront(engine, target.port, {
      async beforeStart(client) {
        await eventually(() => client.readableLength >= 5, 20_000, 'request buffered');
        await sleep(50); // let Node read the FIN too
      },
    });
    const client = await connectTo(front.port);
    const reply = drain(client);
    client.end('early');
    const got = await reply;
    await eventually(() => targetGot !== null, 20_000, 'target connection');
    assert.equal((await targetGot!).head.toString(), 'early');
    assert.equal(got.head.toString(), 'bye');
    const { result } = await front.closeOf(0);
    assert.deepEqual([result.bytesIn, result.bytesOut, result.reason], [5, 3, 'done']);
    await engine.shutdown();
    await Promise.all([front.server.close(), target.close()]);
  });
});
