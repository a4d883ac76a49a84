import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { echoServer, taggedServer } from '../fixtures/tcp.js';
import { freePort } from '../helpers/listen.js';
import { connectTo, readLine } from '../helpers/sockets.js';
import { startTidegate, type EngineFactory, type Running } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';
import { loadNativeEngine, type NativeRelayEngine } from '../../src/relay/native/index.js';
import { answerOf, assertEchoRoundsCounted, echoRound, echoRounds, openFdCount } from './harness.js';

/**
 * Admission ahead (issue 24, item 2): a forward service whose admissions do not depend on the client grants the
 * addon its next connections' admissions and first targets, and the addon dials at the accept, with no round trip
 * through the JS thread; JS does the bookkeeping when it hears of it. Real servers on loopback; figures exact.
 */

const GRANTS_AHEAD = 64;

const probe = loadNativeEngine();
if (probe.ok) void probe.engine.shutdown();

const native: EngineFactory = {
  kind: 'native',
  create: () => {
    const load = loadNativeEngine({ accept: true });
    if (!load.ok) throw new Error(load.reason);
    return load.engine;
  },
};

function engineOf(tg: Running): NativeRelayEngine {
  return tg.runtime.engine as NativeRelayEngine;
}

function waiting(tg: Running): number {
  return engineOf(tg).nativeStats().grantsWaiting;
}

function onGrants(tg: Running): number {
  return engineOf(tg).deliveryStats().admittedOnGrants;
}

/** The tag a taggedServer target answers with, through the relay. */
async function tagOf(port: number): Promise<string> {
  const socket = await connectTo(port);
  const line = await readLine(socket);
  socket.destroy();
  return line;
}

/** How a connection that half-closes at once ends: '' (a FIN back: admitted and relayed) or its error code. */
function connectOutcome(port: number, end = false): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    if (end) socket.on('connect', () => socket.end());
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    socket.on('close', () => resolve(''));
    socket.resume();
  });
}

/**
 * Connects and sends `payload` (half-closing), then holds this thread synchronously until the addon's loop took a
 * grant for the connection: its `admitted` record cannot have been delivered yet when this returns.
 */
async function takeOneGrant(tg: Running, payload: Buffer): Promise<{ answer: Promise<Buffer | string> }> {
  const before = waiting(tg);
  assert.ok(before > 0, 'a grant waits');
  const client = connect({ port: tg.port('fwd'), host: '127.0.0.1' });
  const answer = answerOf(client);
  client.end(payload);
  // net.connect issues connect(2) for an IP literal on the next tick.
  await new Promise<void>((resolve) => process.nextTick(resolve));
  const deadline = Date.now() + 10_000;
  while (waiting(tg) === before) {
    if (Date.now() > deadline) throw new Error('the addon did not take a grant');
  }
  return { answer };
}

function serviceOf(tg: Running, name: string): { stop(graceMs: number): Promise<void> } {
  const services = (tg.runtime as unknown as { services: Map<string, { stop(graceMs: number): Promise<void> }> })
    .services;
  return services.get(name)!;
}

const forward = (targets: string[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets, ...extra }],
});

describe('native admission ahead (grants)', { skip: !probe.ok }, () => {
  it('connections take grants: bytes, counts and records exact, grants refilled, no fd left', async () => {
    const echo = await echoServer();
    const fdsBefore = openFdCount();
    const tg = await startTidegate(forward([echo.address]), { engine: native });
    try {
      await eventually(() => waiting(tg) === GRANTS_AHEAD, 5_000, 'the service granted ahead');
      const port = tg.port('fwd');
      const rounds = 200;
      const sent = await echoRounds(port, rounds, 10, (i) => 1000 + (i % 5) * 300);
      await eventually(() => tg.records.length === rounds, 10_000, 'every relay recorded');
      assertEchoRoundsCounted(tg.status('fwd'), tg.records, rounds, sent, echo.address);
      assert.ok(onGrants(tg) > rounds / 2, `most connections were dialed on grants (${onGrants(tg)})`);
      await eventually(() => waiting(tg) === GRANTS_AHEAD, 5_000, 'grants refilled');
      assert.equal(engineOf(tg).nativeStats().acceptedUnanswered, 0);
      assert.equal(engineOf(tg).liveCount, 0, 'a waiting grant is not a live relay');
    } finally {
      await tg.stop();
      await echo.close();
    }
    assert.equal(engineOf(tg).nativeStats().grantsWaiting, 0, 'grants go with the listener');
    await eventually(() => openFdCount() <= fdsBefore, 5_000, `fds back to ${fdsBefore} (now ${openFdCount()})`);
  });

  it('grants hold places under maxConnections: never more live, the next refused, a freed one granted', async () => {
    const echo = await echoServer();
    const tg = await startTidegate(forward([echo.address], { maxConnections: 3 }), { engine: native });
    try {
      await eventually(() => waiting(tg) === 3, 5_000, 'as many grants as places');
      const port = tg.port('fwd');
      const held = [await connectTo(port), await connectTo(port), await connectTo(port)];
      for (const s of held) s.on('error', () => undefined);
      await eventually(() => tg.status('fwd').connections.live === 3);
      assert.equal(waiting(tg), 0);
      assert.equal(await connectOutcome(port), 'ECONNRESET');
      assert.equal(tg.status('fwd').connections.refused, 1);
      assert.equal(tg.status('fwd').connections.live, 3);
      held[0]!.destroy();
      await eventually(() => tg.status('fwd').connections.live === 2 && waiting(tg) === 1, 5_000, 'the place granted');
      const payload = randomBytes(2000);
      assert.ok((await echoRound(port, payload)).equals(payload));
      await eventually(() => tg.status('fwd').connections.total === 4, 5_000, 'the fourth admitted');
      assert.equal(tg.status('fwd').connections.refused, 1);
      for (const s of held) s.destroy();
    } finally {
      await tg.stop();
      await echo.close();
    }
  });

  it('a connection with no grant left takes the place of one not used yet (maxConnections stays exact)', async () => {
    const echo = await echoServer();
    const tg = await startTidegate(forward([echo.address], { maxConnections: 2 }), { engine: native });
    try {
      await eventually(() => waiting(tg) === 2);
      const port = tg.port('fwd');
      // Many at once: some take grants, the rest are decided in JS, which takes back grants to make room.
      const sockets = await Promise.all(Array.from({ length: 6 }, () => connectOutcome(port, true)));
      assert.equal(sockets.length, 6);
      await eventually(() => tg.status('fwd').connections.live === 0);
      const status = tg.status('fwd');
      assert.equal(status.connections.total + status.connections.refused, 6, 'every connection admitted or refused');
      assert.ok(status.connections.total >= 2, `at least the places were used (${status.connections.total})`);
      assert.equal(tg.records.length, status.connections.total);
    } finally {
      await tg.stop();
      await echo.close();
    }
  });

  it('keeps the round-robin order: grants are decided in rotation', async () => {
    const a = await taggedServer('a');
    const b = await taggedServer('b');
    const tg = await startTidegate(forward([a.address, b.address], { strategy: 'round-robin' }), { engine: native });
    try {
      await eventually(() => waiting(tg) === GRANTS_AHEAD);
      const port = tg.port('fwd');
      const tags: string[] = [];
      for (let i = 0; i < 10; i++) tags.push(await tagOf(port));
      assert.deepEqual(tags.filter((t) => t === 'a').length, 5, `alternating: ${tags.join('')}`);
      for (let i = 1; i < tags.length; i++) assert.notEqual(tags[i], tags[i - 1], `alternating: ${tags.join('')}`);
      await eventually(() => onGrants(tg) === 10, 5_000, 'each connection took a grant');
    } finally {
      await tg.stop();
      await a.close();
      await b.close();
    }
  });

  it('a target going down takes the grants back; failover serves the client; grants return when it is up', async () => {
    const deadPort = await freePort();
    const b = await taggedServer('b');
    const tg = await startTidegate(
      forward([`127.0.0.1:${deadPort}`, b.address], { strategy: 'failover', targetBackoff: '200ms' }),
      { engine: native },
    );
    try {
      // Nothing is known to be down yet: grants go to the first target, as the failover order says.
      await eventually(() => waiting(tg) === GRANTS_AHEAD);
      const port = tg.port('fwd');
      assert.equal(await tagOf(port), 'b', 'a refused first target fails over to the next');
      assert.equal(onGrants(tg), 1);
      await eventually(() => waiting(tg) === 0, 5_000, 'grants taken back once the target is down');
      assert.equal(await tagOf(port), 'b');
      assert.equal(onGrants(tg), 1, 'decided in JS while a target is down');
      await eventually(() => tg.records.length === 2);
      assert.ok(tg.records.every((r) => r.target === b.address && r.reason !== 'upstream_unavailable'));
      const a = await taggedServer('a', deadPort);
      try {
        await eventually(() => waiting(tg) === GRANTS_AHEAD, 10_000, 'grants again once the probe finds it up');
        assert.equal(await tagOf(port), 'a');
      } finally {
        await a.close();
      }
    } finally {
      await tg.stop();
      await b.close();
    }
  });

  it('a reload grants anew with the new targets; user, perIp or least-connections services grant nothing', async () => {
    const a = await taggedServer('a');
    const b = await taggedServer('b');
    const port = await freePort();
    const doc = (targets: string[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
      users: [{ id: 'alice' }],
      services: [{ name: 'fwd', type: 'forward', listen: `127.0.0.1:${port}`, targets, ...extra }],
    });
    const tg = await startTidegate(doc([a.address]), { engine: native });
    try {
      await eventually(() => waiting(tg) === GRANTS_AHEAD);
      assert.equal(await tagOf(port), 'a');
      await tg.reload(doc([b.address]));
      await eventually(() => waiting(tg) === GRANTS_AHEAD);
      assert.equal(await tagOf(port), 'b', 'no grant of the old config was used');
      for (const extra of [
        { strategy: 'least-connections' },
        { perIp: { maxConnections: 5 } },
        { user: 'alice' },
      ]) {
        await tg.reload(doc([b.address], extra));
        assert.equal(waiting(tg), 0, `no grants with ${JSON.stringify(extra)}`);
        assert.equal(await tagOf(port), 'b');
      }
    } finally {
      await tg.stop();
      await a.close();
      await b.close();
    }
  });
  it('counts a granted connection at once: /status has it before its admitted record arrives', async () => {
    const echo = await echoServer();
    const tg = await startTidegate(forward([echo.address]), { engine: native });
    try {
      await eventually(() => waiting(tg) === GRANTS_AHEAD);
      const payload = randomBytes(1000);
      const { answer } = await takeOneGrant(tg, payload);
      // Same turn: the record is still on its way; the counts read the addon's log of takes.
      const status = tg.status('fwd');
      assert.equal(status.connections.total, 1);
      assert.equal(status.connections.live, 1);
      assert.equal(tg.records.length, 0);
      const got = await answer;
      assert.ok(Buffer.isBuffer(got) && got.equals(payload), `relayed: ${String(got)}`);
      await eventually(() => tg.records.length === 1);
      assert.equal(tg.status('fwd').connections.total, 1, 'counted once');
      assert.equal(tg.status('fwd').connections.live, 0);
      assert.equal(onGrants(tg), 1);
    } finally {
      await tg.stop();
      await echo.close();
    }
  });

  it('a stop serves a connection that took a grant before it (admitted then), and grants no more', async () => {
    const echo = await echoServer();
    const tg = await startTidegate(forward([echo.address]), { engine: native });
    try {
      await eventually(() => waiting(tg) === GRANTS_AHEAD);
      const payload = randomBytes(1000);
      const { answer } = await takeOneGrant(tg, payload);
      const stopped = serviceOf(tg, 'fwd').stop(5_000);
      assert.equal(waiting(tg), 0, 'the stop took back every grant not used, at once');
      const got = await answer;
      await stopped;
      assert.ok(Buffer.isBuffer(got) && got.equals(payload), `served while draining: ${String(got)}`);
      const status = tg.status('fwd');
      assert.equal(status.connections.total, 1);
      assert.equal(status.connections.refused, 0);
      assert.equal(status.connections.live, 0);
      assert.equal(tg.records.length, 1);
      assert.equal(tg.records[0]!.reason, 'done');
      assert.equal(engineOf(tg).liveCount, 0);
    } finally {
      await tg.stop();
      await echo.close();
    }
  });

  it('a reload takes grants back as it starts and grants again on the config in force', async () => {
    const a = await taggedServer('a');
    const port = await freePort();
    const doc = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
      users: [{ id: 'alice', enabled: false }],
      services: [{ name: 'fwd', type: 'forward', listen: `127.0.0.1:${port}`, targets: [a.address], ...extra }],
    });
    const tg = await startTidegate(doc(), { engine: native });
    try {
      await eventually(() => waiting(tg) === GRANTS_AHEAD);
      // A rate added by a reload reaches accounting before the service's update: no grant may outlive its start.
      const reloaded = tg.reload(doc({ rate: { in: '1mb', out: '1mb' } }));
      assert.equal(waiting(tg), 0, 'taken back before anything of the new config applies');
      await reloaded;
      await eventually(() => waiting(tg) === GRANTS_AHEAD, 5_000, 'granted again once the reload applied');
      assert.equal(await tagOf(port), 'a');
      // A user who may not connect: refused, recorded, and nothing granted ahead of them.
      await tg.reload(doc({ user: 'alice' }));
      assert.equal(waiting(tg), 0);
      assert.equal(await connectOutcome(port), '');
      await eventually(() => tg.records.some((r) => r.reason === 'user_disabled'), 5_000, 'refused as disabled');
      assert.equal(tg.status('fwd').connections.refused, 1);
      // A PROXY header to write: each connection goes into a Node socket, nothing is granted.
      await tg.reload(doc({ proxyProtocol: 'v1' }));
      assert.equal(waiting(tg), 0);
      assert.equal(await tagOf(port), 'a');
      // The service removed: its grants go with its listener, the port refuses.
      await tg.reload(doc());
      await eventually(() => waiting(tg) === GRANTS_AHEAD);
      await tg.reload({ users: [], services: [] });
      assert.equal(waiting(tg), 0);
      assert.equal(await connectOutcome(port), 'ECONNREFUSED');
    } finally {
      await tg.stop();
      await a.close();
    }
    assert.equal(engineOf(tg).nativeStats().grantsWaiting, 0);
  });

  it('a granted connection whose client resets at once, or whose only target refuses, costs one record each',
    async () => {
      const deadPort = await freePort();
      const echo = await echoServer();
      const port = await freePort();
      const doc = (target: string): Record<string, unknown> => ({
        services: [{ name: 'fwd', type: 'forward', listen: `127.0.0.1:${port}`, targets: [target] }],
      });
      const fdsBefore = openFdCount();
      const tg = await startTidegate(doc(echo.address), { engine: native });
      try {
        await eventually(() => waiting(tg) === GRANTS_AHEAD);
        const reset = connect({ port, host: '127.0.0.1' });
        reset.on('error', () => undefined);
        reset.on('connect', () => reset.resetAndDestroy());
        await eventually(() => tg.records.length === 1, 5_000, 'the reset one recorded');
        assert.equal(onGrants(tg), 1);
        await tg.reload(doc(`127.0.0.1:${deadPort}`));
        await eventually(() => waiting(tg) === GRANTS_AHEAD);
        assert.equal(await connectOutcome(port), '');
        await eventually(() => tg.records.length === 2, 5_000, 'the refused dial recorded');
        assert.equal(tg.records[1]!.reason, 'upstream_unavailable');
        assert.equal(onGrants(tg), 2);
        const status = tg.status('fwd');
        assert.equal(status.connections.total, 2);
        assert.equal(status.connections.live, 0);
      } finally {
        await tg.stop();
        await echo.close();
      }
      await eventually(() => openFdCount() <= fdsBefore, 5_000, `fds back to ${fdsBefore} (now ${openFdCount()})`);
    });
});
