import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { RelayOptionError } from '../../src/errors.js';
import type { ByteBudget } from '../../src/contracts/rate.js';
import type { Relay, RelayEngine, RelayResult } from '../../src/contracts/relay-engine.js';
import { JsRelayEngine } from '../../src/relay/js/engine.js';
import { loadNativeEngine } from '../../src/relay/native/index.js';
import { listen, type TestServer } from '../helpers/listen.js';
import { connectTo } from '../helpers/sockets.js';
import { availableEngines } from '../helpers/tidegate.js';
import { eventually, sleep } from '../helpers/wait.js';

const MiB = 1024 * 1024;

/** A target that writes as fast as the connection takes it and counts what it receives. */
async function firehose(): Promise<TestServer & { received(): number }> {
  const chunk = Buffer.alloc(64 * 1024, 7);
  let total = 0;
  const server = await listen((socket) => {
    socket.on('data', (c: Buffer) => (total += c.length));
    const pump = (): void => {
      while (!socket.destroyed && socket.write(chunk));
    };
    socket.on('drain', pump);
    pump();
  });
  return Object.assign(server, { received: () => total });
}

interface Started {
  client: Socket | null;
  relay: Relay | null;
  result: RelayResult | null;
  received: number;
}

/** A front that hands each accepted client and its connected target to `engine` with `budget`. */
async function front(
  engine: RelayEngine, targetPort: number, budget: ByteBudget,
): Promise<{ server: TestServer; start(): Promise<Started & { client: Socket }> }> {
  const accepted: Started[] = [];
  const server = await listen((client) => {
    const started: Started = { client: null, relay: null, result: null, received: 0 };
    accepted.push(started);
    const target = netConnect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true });
    target.on('error', () => client.destroy());
    target.once('connect', () => {
      const options = { idleTimeoutMs: 0, halfCloseTimeoutMs: 0, rateLimit: null, byteBudget: budget };
      started.relay = engine.start(client, target, options, (_r, result) => {
        started.result = result;
      });
    });
  });
  let connected = 0;
  return {
    server,
    async start() {
      const client = await connectTo(server.port);
      const index = connected++;
      let received = 0;
      client.on('data', (c: Buffer) => (received += c.length));
      client.on('error', () => undefined);
      await eventually(() => accepted[index]?.relay != null, 5_000, 'relay started');
      const started = accepted[index]!;
      started.client = client;
      // The client side counts what it receives.
      Object.defineProperty(started, 'received', { get: () => received });
      return started as Started & { client: Socket };
    },
  };
}

/** Both engines, and the native one copying through buffers (its fallback where splice is refused). */
const factories: Array<{ kind: RelayEngine['kind']; name: string; create(): RelayEngine }> =
  availableEngines().map((e) => ({ ...e, name: e.kind }));
if (factories.some((e) => e.kind === 'native')) {
  factories.push({
    kind: 'native',
    name: 'native, copy mode',
    create() {
      const l = loadNativeEngine({ forceCopy: true });
      if (!l.ok) throw new Error(l.reason);
      return l.engine;
    },
  });
}

for (const factory of factories) {
  describe(`relay (${factory.name}): byte budgets`, { timeout: 60_000 }, () => {

    it('stops the counted direction where the budget ends, keeps the relay open, '
      + 'and resumes when it is raised', async () => {
      const engine = factory.create();
      const hose = await firehose();
      const budget = engine.createByteBudget();
      budget.set(1 * MiB, false, true);
      const f = await front(engine, hose.port, budget);
      try {
        const a = await f.start();
        await eventually(() => a.received >= 1 * MiB, 10_000, 'the first MiB');
        await sleep(300);
        const paused = a.received;
        // Not a byte beyond the budget: the native engine sizes its reads, the JS engine holds the rest of a chunk.
        assert.equal(paused, 1 * MiB, 'stopped at the limit');
        await sleep(300);
        assert.equal(a.received, paused, 'nothing more flows while the budget is used up');
        assert.equal(a.result, null, 'the engine pauses the relay, it does not close it');

        // The uncounted direction still flows.
        a.client.write(Buffer.alloc(256 * 1024, 1));
        await eventually(() => hose.received() >= 256 * 1024, 10_000, 'client→target bytes');

        // A second relay shares the same budget: nothing left for it either.
        const b = await f.start();
        await sleep(300);
        assert.equal(b.received, 0, 'the second relay shares the used-up budget');

        budget.set(3 * MiB, false, true);
        await eventually(() => a.received + b.received >= 3 * MiB, 10_000, 'raised budget');
        await sleep(300);
        assert.equal(a.received + b.received, 3 * MiB, 'stopped at the raised limit');

        budget.set(Infinity, false, false);
        await eventually(() => a.received + b.received >= 6 * MiB, 10_000, 'unlimited after set(Infinity)');
        a.client.destroy();
        b.client.destroy();
        await eventually(() => a.result !== null && b.result !== null, 10_000, 'relays closed');
      } finally {
        budget.dispose();
        await engine.shutdown();
        await f.server.close();
        await hose.close();
      }
    });

    it('counts both directions against one limit when both count', async () => {
      const engine = factory.create();
      const hose = await firehose();
      const budget = engine.createByteBudget();
      budget.set(2 * MiB, true, true);
      const f = await front(engine, hose.port, budget);
      try {
        const a = await f.start();
        // 1 MiB up (the target swallows it), then whatever is left comes down.
        a.client.write(Buffer.alloc(1 * MiB, 1));
        await eventually(() => hose.received() + a.received >= 2 * MiB, 10_000, 'both directions');
        await sleep(300);
        assert.equal(hose.received() + a.received, 2 * MiB, 'in + out stopped at the limit');
        // A relay waiting on its budget reads nothing, so it sees a peer's FIN only once it may read again: closing
        // it is accounting's job (at its next sample), as here.
        a.relay!.close();
        await eventually(() => a.result !== null, 10_000, 'relay closed');
      } finally {
        budget.dispose();
        await engine.shutdown();
        await f.server.close();
        await hose.close();
      }
    });
  });
}

describe('relay (native): byte budget validation', () => {
  const native = availableEngines().find((e) => e.kind === 'native');
  const skipNative = native === undefined ? 'native addon not built' : false;
  it('refuses a budget of another engine, a disposed one, and a bad limit', { skip: skipNative }, async () => {
    const engine = native!.create();
    const other = new JsRelayEngine().createByteBudget();
    const target = await listen(() => undefined);
    const client = await connectTo(target.port);
    const peer = await connectTo(target.port);
    try {
      assert.throws(() => engine.start(
        client, peer, { idleTimeoutMs: 0, halfCloseTimeoutMs: 0, rateLimit: null, byteBudget: other }, () => {},
      ), RelayOptionError);
      const disposed = engine.createByteBudget();
      disposed.dispose();
      assert.throws(() => engine.start(
        client, peer, { idleTimeoutMs: 0, halfCloseTimeoutMs: 0, rateLimit: null, byteBudget: disposed }, () => {},
      ), RelayOptionError);
      const budget = engine.createByteBudget();
      assert.throws(() => budget.set(-1, true, true), RelayOptionError);
      assert.throws(() => budget.set(Number.NaN, true, true), RelayOptionError);
      budget.dispose();
    } finally {
      client.destroy();
      peer.destroy();
      await engine.shutdown();
      await target.close();
    }
  });
});
