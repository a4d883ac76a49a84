import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type net from 'node:net';
import { newEngine, skipNative, startFront } from './harness.js';
import { connectTo } from '../helpers/sockets.js';
import { listen } from '../helpers/listen.js';
import { eventually } from '../helpers/wait.js';
import type { NativeRelayEngine } from '../../src/relay/native/index.js';
import { RelayHandoverError, RelayOptionError } from '../../src/errors.js';

function errorOf(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    socket.once('close', () => resolve('closed'));
  });
}

describe('native relay: endings', { skip: skipNative, timeout: 60_000 }, () => {
  let engine: NativeRelayEngine;
  before(() => {
    engine = newEngine();
  });
  after(async () => {
    await engine.shutdown();
  });

  it('passes a client reset on to the target as a reset', async () => {
    let targetSocket: net.Socket | null = null;
    const target = await listen((socket) => {
      targetSocket = socket;
      socket.resume();
    });
    const front = await startFront(engine, target.port);
    const client = await connectTo(front.port);
    client.write('hi');
    await eventually(() => front.relays.length === 1 && targetSocket !== null, 20_000, 'relay start');
    await eventually(() => front.relays[0]!.bytesIn === 2, 20_000, 'first bytes counted');
    const targetError = errorOf(targetSocket!);
    client.resetAndDestroy();
    const { result } = await front.closeOf(0);
    assert.equal(result.reason, 'client_reset');
    assert.equal(result.bytesIn, 2);
    assert.equal(await targetError, 'ECONNRESET');
    await Promise.all([front.server.close(), target.close()]);
  });

  it('passes a target reset on to the client as a reset', async () => {
    const target = await listen((socket) => {
      socket.once('data', () => socket.resetAndDestroy());
    });
    const front = await startFront(engine, target.port);
    const client = await connectTo(front.port);
    const clientError = errorOf(client);
    await eventually(() => front.relays.length === 1, 20_000, 'relay start');
    client.write('trigger');
    const { result } = await front.closeOf(0);
    assert.equal(result.reason, 'target_reset');
    assert.equal(await clientError, 'ECONNRESET');
    await Promise.all([front.server.close(), target.close()]);
  });

  it('closes an idle relay after idleTimeoutMs', async () => {
    const target = await listen((socket) => socket.resume());
    const front = await startFront(engine, target.port, {
      relay: { idleTimeoutMs: 150, halfCloseTimeoutMs: 1000, rateLimit: null },
    });
    const client = await connectTo(front.port);
    client.resume();
    const clientEnded = new Promise((resolve) => client.once('end', resolve));
    const { result } = await front.closeOf(0);
    assert.equal(result.reason, 'idle_timeout');
    await clientEnded; // the relay closed its side of the client
    client.destroy();
    await Promise.all([front.server.close(), target.close()]);
  });

  it('closes one relay by id from JS with the given reason, leaving the others running', async () => {
    const target = await listen((socket) => socket.pipe(socket));
    const front = await startFront(engine, target.port);
    const a = await connectTo(front.port);
    const b = await connectTo(front.port);
    a.resume();
    const aClosed = new Promise((resolve) => a.once('end', resolve));
    await eventually(() => front.relays.length === 2, 20_000, 'two relays');
    const before = engine.liveCount;
    front.relays[0]!.close('closed');
    front.relays[0]!.close('shutdown'); // idempotent: the first reason stands
    const { result } = await front.closeOf(0);
    await aClosed;
    assert.equal(result.reason, 'closed');
    assert.equal(engine.liveCount, before - 1);
    // The other relay still works.
    const echoed = new Promise<string>((resolve) => b.once('data', (d: Buffer) => resolve(d.toString())));
    b.write('still-alive');
    assert.equal(await echoed, 'still-alive');
    assert.throws(() => front.relays[1]!.close('toString' as never), RelayOptionError);
    front.relays[1]!.close();
    assert.equal((await front.closeOf(1)).result.reason, 'closed');
    assert.equal(front.closed.length, 2);
    await Promise.all([front.server.close(), target.close()]);
  });

  it('rejects bad options, rates and limits with RelayOptionError', async () => {
    const target = await listen((socket) => socket.resume());
    const client = await connectTo(target.port);
    const other = await connectTo(target.port);
    const bad = [
      { idleTimeoutMs: -1, halfCloseTimeoutMs: 0, rateLimit: null },
      { idleTimeoutMs: 0, halfCloseTimeoutMs: Number.NaN, rateLimit: null },
      { idleTimeoutMs: 0, halfCloseTimeoutMs: 0, rateLimit: { id: 99, set() {}, dispose() {} } },
    ];
    for (const options of bad) {
      assert.throws(() => engine.start(client, other, options, () => {}), RelayOptionError);
    }
    assert.throws(() => engine.createRateLimit(-5, 0), RelayOptionError);
    assert.throws(() => engine.createRateLimit(0, Number.POSITIVE_INFINITY), RelayOptionError);
    const limit = engine.createRateLimit(1000, 1000);
    assert.throws(() => limit.set(-1, 0), RelayOptionError);
    limit.dispose();
    assert.throws(() => limit.set(1, 1), RelayOptionError);
    assert.throws(
      () => engine.start(client, other, { idleTimeoutMs: 0, halfCloseTimeoutMs: 0, rateLimit: limit }, () => {}),
      RelayOptionError,
    );
    client.destroy();
    other.destroy();
    await target.close();
  });

  it('refuses a TLS socket before taking ownership, with RelayHandoverError', async () => {
    const { TLSSocket } = await import('node:tls');
    const target = await listen((socket) => socket.resume());
    const client = await connectTo(target.port);
    const other = await connectTo(target.port);
    const tls = new TLSSocket(client);
    assert.throws(
      () => engine.start(tls, other, { idleTimeoutMs: 0, halfCloseTimeoutMs: 0, rateLimit: null }, () => {}),
      RelayHandoverError,
    );
    assert.equal(other.destroyed, false, 'the caller still owns the sockets');
    tls.destroy();
    client.destroy();
    other.destroy();
    await target.close();
  });

  it('ends a relay whose socket died before the hand-over as that side reset', async () => {
    const target = await listen((socket) => socket.resume());
    const client = await connectTo(target.port);
    const dead = await connectTo(target.port);
    dead.destroy();
    const closed = await new Promise<string>((resolve) => {
      engine.start(
        client, dead, { idleTimeoutMs: 0, halfCloseTimeoutMs: 0, rateLimit: null },
        (_r, result) => resolve(result.reason),
      );
    });
    assert.equal(closed, 'target_reset');
    await target.close();
  });
});
