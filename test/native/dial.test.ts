import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ConnectTimeoutError } from '../../src/errors.js';
import type {
  DialAddress,
  DialingRelay,
  DialOptions,
  RelayDialListener,
  RelayResult,
} from '../../src/contracts/relay-engine.js';
import type { NativeRelayEngine } from '../../src/relay/native/engine.js';
import { defaultOptions, newEngine, openFdCount, skipNative } from './harness.js';
import { freePort, listen, type TestServer } from '../helpers/listen.js';
import { blackhole } from '../fixtures/blackhole.js';
import { connectTo, readAll } from '../helpers/sockets.js';
import { eventually } from '../helpers/wait.js';

/** The engine-side dial: the addon connects to the target itself; JS hears of failed connects and picks the next. */

const CONNECT: DialOptions = { timeoutMs: 2_000, noDelay: true, keepAliveMs: 0 };

interface Dialed {
  readonly relay: DialingRelay;
  readonly failures: Error[];
  readonly connects: number[];
  readonly closed: Promise<RelayResult>;
}

/**
 * A front that hands every client to `engine.dial` towards `targets[0]`; on a failed connect it redials the next
 * target, and closes the relay when none is left.
 */
async function dialFront(
  engine: NativeRelayEngine, targets: DialAddress[], connect: DialOptions = CONNECT, reportConnect = false,
  greeting: Buffer | null = null,
) {
  const dialed: Dialed[] = [];
  const waiting: Array<(d: Dialed) => void> = [];
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) => {
    const failures: Error[] = [];
    const connects: number[] = [];
    let next = 1;
    let resolveClosed!: (r: RelayResult) => void;
    const closed = new Promise<RelayResult>((resolve) => (resolveClosed = resolve));
    const listener: RelayDialListener = {
      connected() {
        connects.push(next - 1);
      },
      connectFailed(relay, err) {
        failures.push(err);
        if (next < targets.length) relay.redial(targets[next++]!, `target ${next - 1}`, reportConnect);
        else relay.close();
      },
    };
    const relay = engine.dial(
      client, targets[0]!, 'target 0', connect, reportConnect, greeting, defaultOptions, listener,
      (_r, result) => resolveClosed(result),
    );
    const d = { relay, failures, connects, closed };
    dialed.push(d);
    waiting.shift()?.(d);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    /** The next dialed client (or one already dialed and not yet taken). */
    next(): Promise<Dialed> {
      const ready = dialed.shift();
      return ready ? Promise.resolve(ready) : new Promise((resolve) => waiting.push(resolve));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function refusedPort(): Promise<number> {
  return freePort();
}

describe('native relay: engine-side dial', { skip: skipNative }, () => {
  let engine: NativeRelayEngine;
  let echo: TestServer;
  before(async () => {
    engine = newEngine();
    echo = await listen((s) => s.pipe(s));
  });
  after(async () => {
    await engine.shutdown();
    await echo.close();
  });

  it('makes addresses of IPv4 and IPv6 literals only (host names are dialed by Node)', () => {
    assert.ok(Buffer.isBuffer(engine.dialAddress({ host: '127.0.0.1', port: 80 })));
    assert.ok(Buffer.isBuffer(engine.dialAddress({ host: '::1', port: 80 })));
    assert.equal(engine.dialAddress({ host: 'localhost', port: 80 }), null);
  });

  it('connects and relays both ways byte-exactly, the client\'s early bytes and FIN included', async () => {
    const front = await dialFront(engine, [engine.dialAddress({ host: '127.0.0.1', port: echo.port })!]);
    try {
      const client = await connectTo(front.port);
      const payload = Buffer.alloc(300_000, 7);
      client.end(payload); // sent (with the FIN) before the engine's connect may even have started
      const got = await readAll(client);
      assert.equal(Buffer.compare(got, payload), 0);
      const d = await front.next();
      const result = await d.closed;
      assert.equal(result.connected, true);
      assert.equal(result.reason, 'done');
      assert.equal(result.bytesIn, payload.length);
      assert.equal(result.bytesOut, payload.length);
      assert.deepEqual(d.failures, []);
    } finally {
      await front.close();
    }
  });

  it('sends the greeting first, once connected, and books only relayed bytes (never the greeting)', async () => {
    const greeting = Buffer.from([0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
    const echoAddress = engine.dialAddress({ host: '127.0.0.1', port: echo.port })!;
    const front = await dialFront(engine, [echoAddress], CONNECT, false, greeting);
    try {
      const client = await connectTo(front.port);
      const payload = Buffer.alloc(40_000, 9);
      client.end(payload);
      const got = await readAll(client);
      assert.equal(Buffer.compare(got, Buffer.concat([greeting, payload])), 0);
      const result = await (await front.next()).closed;
      assert.equal(result.reason, 'done');
      assert.equal(result.bytesIn, payload.length, 'what the target received');
      assert.equal(result.bytesOut, payload.length, 'what the client received from the target: the greeting is not');
    } finally {
      await front.close();
    }
  });

  it('reports a refused connect with Node\'s error code, then relays to the next target', async () => {
    const dead = await refusedPort();
    const front = await dialFront(engine, [
      engine.dialAddress({ host: '127.0.0.1', port: dead })!,
      engine.dialAddress({ host: '127.0.0.1', port: echo.port })!,
    ], CONNECT, true);
    try {
      const client = await connectTo(front.port);
      client.end('ping');
      assert.equal((await readAll(client)).toString(), 'ping');
      const d = await front.next();
      const result = await d.closed;
      assert.equal(d.failures.length, 1);
      assert.equal((d.failures[0] as NodeJS.ErrnoException).code, 'ECONNREFUSED');
      assert.match(d.failures[0]!.message, /ECONNREFUSED target 0/);
      assert.deepEqual(d.connects, [1], 'connected reported once, for the second target');
      assert.equal(result.connected, true);
      assert.equal(result.bytesIn, 4);
    } finally {
      await front.close();
    }
  });

  it('gives a silent target its connect timeout, then the relay closes unconnected when none is left', async () => {
    const hole = await blackhole();
    const targets = [engine.dialAddress({ host: '127.0.0.1', port: hole.port })!];
    const front = await dialFront(engine, targets, { ...CONNECT, timeoutMs: 300 });
    try {
      const started = Date.now();
      const client = await connectTo(front.port);
      const ended = readAll(client).catch(() => Buffer.alloc(0));
      const d = await front.next();
      const result = await d.closed;
      const waited = Date.now() - started;
      assert.ok(waited >= 290 && waited < 2_000, `waited ${waited} ms for a 300 ms connect timeout`);
      assert.equal(d.failures.length, 1);
      assert.ok(d.failures[0] instanceof ConnectTimeoutError, String(d.failures[0]));
      assert.equal(result.connected, false);
      assert.equal(result.reason, 'closed');
      assert.equal((await ended).length, 0, 'the client is closed with nothing sent');
    } finally {
      await front.close();
      hole.close();
    }
  });

  it('ends unconnected, as a client reset, when the client goes away while the target is being dialed', async () => {
    const hole = await blackhole();
    const targets = [engine.dialAddress({ host: '127.0.0.1', port: hole.port })!];
    const front = await dialFront(engine, targets, { ...CONNECT, timeoutMs: 10_000 });
    try {
      const client = await connectTo(front.port);
      const d = await front.next();
      client.resetAndDestroy();
      const result = await d.closed;
      assert.equal(result.connected, false);
      assert.equal(result.reason, 'client_reset');
      assert.deepEqual(d.failures, [], 'no connect outcome is reported for an abandoned dial');
      assert.equal(engine.liveCount, 0);
    } finally {
      await front.close();
      hole.close();
    }
  });

  it('closes relays still dialing at shutdown, unconnected, and leaves no fd behind', async () => {
    const own = newEngine();
    const hole = await blackhole();
    const targets = [own.dialAddress({ host: '127.0.0.1', port: hole.port })!];
    const front = await dialFront(own, targets, { ...CONNECT, timeoutMs: 10_000 });
    // The engine opens its loop's epoll and eventfd with the first relay and closes them at shutdown.
    const fdsBefore = openFdCount();
    try {
      const client = await connectTo(front.port);
      const ended = readAll(client).catch(() => Buffer.alloc(0));
      const d = await front.next();
      await new Promise((resolve) => setTimeout(resolve, 50)); // let the connect start
      await own.shutdown();
      const result = await d.closed;
      assert.equal(result.connected, false);
      assert.equal(result.reason, 'shutdown');
      assert.equal((await ended).length, 0, 'the client was closed');
      client.destroy();
      await eventually(() => openFdCount() <= fdsBefore, 5_000, `fd count back to ${fdsBefore} (now ${openFdCount()})`);
    } finally {
      await front.close();
      hole.close();
    }
  });
});
