import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Server, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { echoServer } from '../fixtures/tcp.js';
import { freePort } from '../helpers/listen.js';
import { connectTo, countUntilClose, readAll, readBytes } from '../helpers/sockets.js';
import { startTidegate, type EngineFactory, type Running } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';
import { setListenHook } from '../../src/listen/listen.js';
import { openReusePort, reusePortCalls } from '../../src/listen/reuseport.js';
import { WorkerListeners } from '../../src/cluster/worker-listeners.js';
import { loadAddon } from '../../src/relay/native/binding.js';
import { loadNativeEngine, NativeRelayEngine } from '../../src/relay/native/index.js';
import { answerOf, assertEchoRoundsCounted, echoRound, echoRounds, openFdCount } from './harness.js';

/**
 * Accepting in the addon (issue 24, item 2): a native forward service hands its listening socket to the addon's loop,
 * which accepts and posts each connection to JS for admission; no Node socket exists for such a client. Real servers
 * on loopback; every figure checked exactly.
 */

const probe = loadNativeEngine();
if (probe.ok) void probe.engine.shutdown();

/**
 * `grants: false` turns admission ahead off, so every connection takes the accepted-record path (JS decides, then
 * dials): the stop cases below hold that path; test/native/grant.test.ts holds the granted one's.
 */
function nativeFactory(accept = true, grants = true): EngineFactory {
  return {
    kind: 'native',
    create: () => {
      const load = loadNativeEngine({ accept, grants });
      if (!load.ok) throw new Error(load.reason);
      return load.engine;
    },
  };
}

function engineOf(tg: Running): NativeRelayEngine {
  return tg.runtime.engine as NativeRelayEngine;
}

function serverOf(tg: Running, name: string): Server {
  const services = (tg.runtime as unknown as { services: Map<string, { server: Server }> }).services;
  return services.get(name)!.server;
}

function serviceOf(tg: Running, name: string): { stop(graceMs: number): Promise<void> } {
  const services = (tg.runtime as unknown as { services: Map<string, { stop(graceMs: number): Promise<void> }> })
    .services;
  return services.get(name)!;
}

/**
 * Stops the service `fwd` while the addon holds a connection it accepted that JS has not heard of yet: the client
 * connects, then this thread waits synchronously (so the accepted record cannot be delivered) until the addon counts
 * the connection as accepted and unanswered, and starts the stop in the same turn. Resolves with the client's answer.
 */
async function stopWithOneInFlight(tg: Running, payload: Buffer): Promise<Buffer | string> {
  const engine = engineOf(tg);
  const client = connect({ port: tg.port('fwd'), host: '127.0.0.1' });
  const answer = answerOf(client);
  client.end(payload);
  // net.connect issues connect(2) for an IP literal on the next tick.
  await new Promise<void>((resolve) => process.nextTick(resolve));
  const deadline = Date.now() + 10_000;
  while (engine.nativeStats().acceptedUnanswered === 0) {
    if (Date.now() > deadline) throw new Error('the addon did not accept the connection');
  }
  const stopped = serviceOf(tg, 'fwd').stop(5_000);
  const got = await answer;
  await stopped;
  return got;
}

/** Resolves with the error code a connection attempt ends with ('' when it connected and got a FIN). */
function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    socket.on('close', () => resolve(''));
    socket.resume();
  });
}

const forward = (target: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target], ...extra }],
});

describe('native accept (the addon accepts for forward services)', { skip: !probe.ok }, () => {
  it('relays many short connections accepted by the addon, bytes and counts exact, and leaks no fd', async () => {
    const echo = await echoServer();
    const fdsBefore = openFdCount();
    const tg = await startTidegate(forward(echo.address), { engine: nativeFactory() });
    try {
      const engine = engineOf(tg);
      assert.equal(engine.nativeStats().listeners, 1, 'the addon listens for the service');
      assert.equal(serverOf(tg, 'fwd').listening, false, "Node's handle no longer polls the socket");
      assert.equal((tg.status('fwd').detail as { accepts: string }).accepts, 'engine');
      const port = tg.port('fwd');
      const rounds = 300;
      const sent = await echoRounds(port, rounds, 20, (i) => 1024 + (i % 7) * 100);
      await eventually(() => tg.records.length === rounds, 10_000, 'every relay recorded');
      assertEchoRoundsCounted(tg.status('fwd'), tg.records, rounds, sent, echo.address);
      assert.equal(tg.records.reduce((n, r) => n + r.bytesIn, 0), sent);
      assert.equal(tg.records.reduce((n, r) => n + r.bytesOut, 0), sent);
      assert.equal(engine.nativeStats().acceptedUnanswered, 0);
    } finally {
      await tg.stop();
      await echo.close();
    }
    await eventually(() => openFdCount() <= fdsBefore, 5_000, `fds back to ${fdsBefore} (now ${openFdCount()})`);
  });

  it('accepts in the addon by default: an engine made without the option listens', async () => {
    const engine = new NativeRelayEngine(loadAddon().NativeRelayEngine, {});
    const echo = await echoServer();
    const tg = await startTidegate(forward(echo.address), { engine: { kind: 'native', create: () => engine } });
    try {
      assert.equal(engine.nativeStats().listeners, 1);
      const payload = randomBytes(2048);
      assert.ok((await echoRound(tg.port('fwd'), payload)).equals(payload));
    } finally {
      await tg.stop();
      await echo.close();
    }
  });

  it('TIDEGATE_NATIVE_ACCEPT=0 (accept: false) keeps Node accepting', async () => {
    const echo = await echoServer();
    const tg = await startTidegate(forward(echo.address), { engine: nativeFactory(false) });
    try {
      assert.equal(engineOf(tg).nativeStats().listeners, 0);
      assert.equal(serverOf(tg, 'fwd').listening, true);
      assert.equal((tg.status('fwd').detail as { accepts: string }).accepts, 'node');
      const payload = randomBytes(2048);
      assert.ok((await echoRound(tg.port('fwd'), payload)).equals(payload));
    } finally {
      await tg.stop();
      await echo.close();
    }
  });

  it('keeps Node accepting where a PROXY header is read or written', async () => {
    const echo = await echoServer();
    const tg = await startTidegate({
      services: [
        { name: 'out', type: 'forward', listen: '127.0.0.1:0', targets: [echo.address], proxyProtocol: 'v1' },
        {
          name: 'in', type: 'forward', listen: '127.0.0.1:0', targets: [echo.address],
          acceptProxyProtocol: { from: ['127.0.0.1/32'] },
        },
      ],
    }, { engine: nativeFactory() });
    try {
      assert.equal(engineOf(tg).nativeStats().listeners, 0);
      assert.equal(serverOf(tg, 'out').listening, true);
      const back = await echoRound(tg.port('out'), Buffer.from('x'));
      assert.match(back.toString(), /^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ \d+\r\nx$/);
    } finally {
      await tg.stop();
      await echo.close();
    }
  });

  it('refuses past maxConnections (a reset), counted, and admits again once a slot is free', async () => {
    const echo = await echoServer();
    const tg = await startTidegate(forward(echo.address, { maxConnections: 2 }), { engine: nativeFactory() });
    try {
      const port = tg.port('fwd');
      const held = [await connectTo(port), await connectTo(port)];
      for (const s of held) s.on('error', () => undefined);
      await eventually(() => tg.status('fwd').connections.live === 2);
      assert.equal(await connectOutcome(port), 'ECONNRESET');
      assert.equal(tg.status('fwd').connections.refused, 1);
      assert.equal(tg.status('fwd').connections.total, 2);
      const closed = countUntilClose(held[0]!);
      held[0]!.end();
      await closed;
      await eventually(() => tg.status('fwd').connections.live === 1);
      const payload = randomBytes(1500);
      assert.ok((await echoRound(port, payload)).equals(payload));
      held[1]!.destroy();
      assert.equal(engineOf(tg).nativeStats().acceptedUnanswered, 0);
    } finally {
      await tg.stop();
      await echo.close();
    }
  });

  it('refuses a user past the quota: closed at once, counted, recorded as quota_exceeded', async () => {
    const echo = await echoServer();
    const tg = await startTidegate({
      users: [{ id: 'alice', quota: { bytes: '4KiB', direction: 'in' } }],
      ...forward(echo.address, { user: 'alice' }),
    }, { engine: nativeFactory() });
    try {
      const port = tg.port('fwd');
      const payload = randomBytes(4096);
      assert.ok((await echoRound(port, payload)).equals(payload));
      await eventually(() => tg.records.length === 1);
      assert.equal(tg.runtime.accounting.check('alice')?.reason, 'quota_exceeded');
      const second = await connectTo(port);
      second.write('hello');
      assert.equal(await countUntilClose(second), 0, 'nothing relayed for a refused user');
      await eventually(() => tg.records.length === 2);
      const refused = tg.records[1]!;
      assert.equal(refused.reason, 'quota_exceeded');
      assert.equal(refused.user, 'alice');
      assert.equal(refused.bytesIn, 0);
      assert.match(refused.client, /^127\.0\.0\.1:\d+$/);
      assert.equal(tg.status('fwd').connections.refused, 1);
      assert.equal(tg.runtime.accounting.usage('alice')!.live.refused, 1);
    } finally {
      await tg.stop();
      await echo.close();
    }
  });

  it('keeps the per-IP connection limit in JS', async () => {
    const echo = await echoServer();
    const tg = await startTidegate(
      forward(echo.address, { perIp: { maxConnections: 1 } }), { engine: nativeFactory() },
    );
    try {
      assert.equal(engineOf(tg).nativeStats().listeners, 1);
      const port = tg.port('fwd');
      const held = await connectTo(port);
      held.on('error', () => undefined);
      await eventually(() => tg.status('fwd').connections.live === 1);
      assert.equal(await connectOutcome(port), '');
      const by = tg.status('fwd').detail!.refusedBy as Record<string, number>;
      assert.equal(Object.values(by).reduce((a, b) => a + b, 0), 1);
      assert.equal(tg.status('fwd').connections.refused, 1);
      held.destroy();
    } finally {
      await tg.stop();
      await echo.close();
    }
  });

  it('drains on stop: an in-flight relay finishes, new connections are refused', async () => {
    const echo = await echoServer();
    const tg = await startTidegate(forward(echo.address), { engine: nativeFactory() });
    const port = tg.port('fwd');
    const live = await connectTo(port);
    live.on('error', () => undefined);
    live.write('before ');
    assert.equal((await readBytes(live, 7)).toString(), 'before ');
    const stopping = tg.stop();
    try {
      await eventually(() => tg.status('fwd').state === 'draining');
      assert.equal(engineOf(tg).nativeStats().listeners, 0, 'the addon stopped accepting');
      assert.equal(await connectOutcome(port), 'ECONNREFUSED');
      const rest = readAll(live);
      live.end('after');
      assert.equal((await rest).toString(), 'after');
    } finally {
      await stopping;
      await echo.close();
    }
    assert.equal(tg.records.length, 1);
    assert.equal(tg.records[0]!.reason, 'done');
    assert.equal(tg.records[0]!.bytesIn, 12);
  });

  it('a reload changing the listen port re-binds: the addon accepts on the new port, the old one refuses', async () => {
    const echo = await echoServer();
    const first = await freePort();
    const second = await freePort();
    const doc = (port: number): Record<string, unknown> => ({
      services: [{ name: 'fwd', type: 'forward', listen: `127.0.0.1:${port}`, targets: [echo.address] }],
    });
    const tg = await startTidegate(doc(first), { engine: nativeFactory() });
    try {
      const payload = randomBytes(1000);
      assert.ok((await echoRound(first, payload)).equals(payload));
      await tg.reload(doc(second));
      assert.equal(tg.port('fwd'), second);
      assert.equal(engineOf(tg).nativeStats().listeners, 1);
      assert.ok((await echoRound(second, payload)).equals(payload));
      assert.equal(await connectOutcome(first), 'ECONNREFUSED');
      // And back: the first port is free again at once.
      await tg.reload(doc(first));
      assert.ok((await echoRound(first, payload)).equals(payload));
    } finally {
      await tg.stop();
      await echo.close();
    }
  });

  it('listens on [::1] and forwards to an IPv6 target, labels unbracketed', async () => {
    const echo = await echoServerOn('::1');
    const tg = await startTidegate({
      services: [{ name: 'v6', type: 'forward', listen: '[::1]:0', targets: [`[::1]:${echo.port}`] }],
    }, { engine: nativeFactory() });
    try {
      assert.equal(engineOf(tg).nativeStats().listeners, 1);
      const payload = randomBytes(3000);
      assert.ok((await echoRound(tg.port('v6'), payload, '::1')).equals(payload));
      await eventually(() => tg.records.length === 1);
      assert.match(tg.records[0]!.client, /^::1:\d+$/);
    } finally {
      await tg.stop();
      await echo.close();
    }
  });

  it('a peer resetting right after the accept costs one record, no live count and no fd', async () => {
    const echo = await echoServer();
    const fdsBefore = openFdCount();
    const tg = await startTidegate(forward(echo.address), { engine: nativeFactory() });
    try {
      const port = tg.port('fwd');
      for (let i = 0; i < 50; i++) {
        const s = await connectTo(port);
        s.on('error', () => undefined);
        s.resetAndDestroy();
      }
      await eventually(() => tg.records.length === 50, 10_000, 'every reset connection recorded');
      assert.equal(tg.status('fwd').connections.live, 0);
      assert.equal(tg.status('fwd').connections.total, 50);
      assert.ok(tg.records.every((r) => r.bytesIn === 0 && r.bytesOut === 0));
      const payload = randomBytes(1024);
      assert.ok((await echoRound(port, payload)).equals(payload), 'still serving');
      await eventually(() => engineOf(tg).liveCount === 0);
    } finally {
      await tg.stop();
      await echo.close();
    }
    await eventually(() => openFdCount() <= fdsBefore, 5_000, `fds back to ${fdsBefore} (now ${openFdCount()})`);
  });

  it('a forced listener error re-binds through the addon again', async () => {
    const echo = await echoServer();
    const tg = await startTidegate(forward(echo.address), { engine: nativeFactory() });
    try {
      const port = tg.port('fwd');
      serverOf(tg, 'fwd').emit('error', Object.assign(new Error('forced accept failure'), { code: 'EBADF' }));
      await eventually(() => (tg.status('fwd').detail!.listener as { recoveries: number }).recoveries === 1);
      assert.equal(engineOf(tg).nativeStats().listeners, 1);
      assert.equal(tg.port('fwd'), port);
      const payload = randomBytes(1024);
      assert.ok((await echoRound(port, payload)).equals(payload));
    } finally {
      await tg.stop();
      await echo.close();
    }
  });

  it('a stop refuses what the addon accepted but JS had not admitted yet (one process: the socket is its own)',
    async () => {
      const echo = await echoServer();
      const tg = await startTidegate(forward(echo.address), { engine: nativeFactory(true, false) });
      try {
        assert.equal(engineOf(tg).nativeStats().grantsWaiting, 0, 'no admission ahead: JS decides this one');
        assert.equal(await stopWithOneInFlight(tg, randomBytes(1000)), 'ECONNRESET');
        assert.equal(tg.status('fwd').connections.refused, 1);
        assert.equal(engineOf(tg).nativeStats().acceptedUnanswered, 0);
      } finally {
        await tg.stop();
        await echo.close();
      }
    });

  it('on a socket a fleet shares, a stop serves what the addon accepted and leaves the queue to the next holder',
    { skip: reusePortCalls() === null }, async () => {
      const calls = reusePortCalls()!;
      const opened = openReusePort(calls, '127.0.0.1', 0, 511);
      assert.ok('fd' in opened, String(opened));
      // As a worker holds its slot's socket (the primary and a replacement hold copies of it too).
      const listeners = new WorkerListeners(calls);
      listeners.add({ service: 'fwd', host: '127.0.0.1', port: 0, bound: opened.port }, {
        fd: opened.fd, close: () => calls.closeFd(opened.fd),
      });
      setListenHook(listeners);
      const echo = await echoServer();
      let next: Running | null = null;
      const tg = await startTidegate(forward(echo.address), { engine: nativeFactory(true, false) });
      try {
        assert.equal(tg.port('fwd'), opened.port);
        assert.equal(engineOf(tg).nativeStats().listeners, 1);
        assert.equal(engineOf(tg).nativeStats().grantsWaiting, 0, 'no admission ahead: JS decides this one');
        const payload = randomBytes(1000);
        const answer = await stopWithOneInFlight(tg, payload);
        assert.ok(Buffer.isBuffer(answer) && answer.equals(payload), `served while draining: ${String(answer)}`);
        assert.equal(tg.status('fwd').connections.total, 1);
        assert.equal(tg.status('fwd').connections.refused, 0);
        // The stopped worker's copy is closed, the socket is not: a connection now waits in its queue for the
        // replacement, which serves it.
        const queued = connect({ port: opened.port, host: '127.0.0.1' });
        const queuedAnswer = answerOf(queued);
        queued.end(payload);
        next = await startTidegate(forward(echo.address), { engine: nativeFactory() });
        const got = await queuedAnswer;
        assert.ok(Buffer.isBuffer(got) && got.equals(payload), `the replacement served the queued one: ${String(got)}`);
        assert.equal(next.status('fwd').connections.total, 1);
      } finally {
        await tg.stop();
        await next?.stop();
        setListenHook(null);
        listeners.closeAll();
        await echo.close();
      }
    });

  it('a reload that needs a Node socket (a PROXY header to write) adopts what the addon accepts', async () => {
    const echo = await echoServer();
    const port = await freePort();
    const tg = await startTidegate(forward(echo.address, { listen: `127.0.0.1:${port}` }), { engine: nativeFactory() });
    try {
      assert.equal(engineOf(tg).nativeStats().listeners, 1);
      await tg.reload(forward(echo.address, { listen: `127.0.0.1:${port}`, proxyProtocol: 'v1' }));
      const payload = Buffer.from('payload');
      const back = (await echoRound(port, payload)).toString();
      assert.match(back, new RegExp(`^PROXY TCP4 127\\.0\\.0\\.1 127\\.0\\.0\\.1 \\d+ ${port}\r\npayload$`));
      await eventually(() => tg.records.length === 1);
      assert.equal(tg.records[0]!.bytesIn, back.length);
      assert.equal(engineOf(tg).nativeStats().acceptedUnanswered, 0);
    } finally {
      await tg.stop();
      await echo.close();
    }
  });
});

async function echoServerOn(host: string): Promise<{ port: number; close(): Promise<void> }> {
  const { createServer } = await import('node:net');
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
