import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { taggedServer } from '../fixtures/tcp.js';
import { type TestServer } from '../helpers/listen.js';
import { connectTo, readLine } from '../helpers/sockets.js';
import { availableEngines, type Running, startTidegate } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

async function whichTarget(port: number): Promise<{ tag: string; socket: Socket }> {
  const socket = await connectTo(port);
  const tag = await readLine(socket);
  return { tag, socket };
}

async function withTargets(
  engine: ReturnType<typeof availableEngines>[number],
  strategy: string,
  body: (tg: Running, targets: TestServer[]) => Promise<void>,
): Promise<void> {
  const targets = await Promise.all(['a', 'b', 'c'].map((t) => taggedServer(t)));
  const tg = await startTidegate(
    {
      services: [{
        name: 'fwd', type: 'forward', listen: '127.0.0.1:0', strategy, targets: targets.map((t) => t.address),
      }],
    },
    { engine },
  );
  try {
    await body(tg, targets);
  } finally {
    await tg.stop();
    await Promise.all(targets.map((t) => t.close()));
  }
}

for (const engine of availableEngines()) {
  describe(`relay (${engine.kind}): target strategies`, () => {
    it('round-robin cycles through targets in order', async () => {
      await withTargets(engine, 'round-robin', async (tg) => {
        const tags: string[] = [];
        for (let i = 0; i < 6; i++) {
          const { tag, socket } = await whichTarget(tg.port('fwd'));
          tags.push(tag);
          socket.destroy();
        }
        assert.deepEqual(tags, ['a', 'b', 'c', 'a', 'b', 'c']);
      });
    });

    it('random spreads connections over every target', async () => {
      await withTargets(engine, 'random', async (tg) => {
        const seen = new Set<string>();
        for (let i = 0; i < 60 && seen.size < 3; i++) {
          const { tag, socket } = await whichTarget(tg.port('fwd'));
          seen.add(tag);
          socket.destroy();
        }
        assert.deepEqual([...seen].sort(), ['a', 'b', 'c']);
      });
    });

    it('least-connections picks the target with the fewest live relays', async () => {
      await withTargets(engine, 'least-connections', async (tg) => {
        const first = await whichTarget(tg.port('fwd'));
        const second = await whichTarget(tg.port('fwd'));
        const third = await whichTarget(tg.port('fwd'));
        assert.equal(
          new Set([first.tag, second.tag, third.tag]).size, 3, 'each of 3 held connections went to a different target',
        );
        second.socket.destroy();
        await eventually(() => tg.status('fwd').connections.live === 2, 5_000, 'release');
        const fourth = await whichTarget(tg.port('fwd'));
        assert.equal(fourth.tag, second.tag, 'the freed target is chosen');
        for (const c of [first, third, fourth]) c.socket.destroy();
      });
    });

    it('failover always uses the first target while it is up, then the next', async () => {
      await withTargets(engine, 'failover', async (tg, targets) => {
        for (let i = 0; i < 3; i++) {
          const { tag, socket } = await whichTarget(tg.port('fwd'));
          assert.equal(tag, 'a');
          socket.destroy();
        }
        await targets[0]!.close();
        const { tag, socket } = await whichTarget(tg.port('fwd'));
        assert.equal(tag, 'b', 'the dead first target is skipped');
        socket.destroy();
        const detail = tg.status('fwd').detail as { targets: { address: string; up: boolean }[] };
        assert.equal(detail.targets[0]!.up, false, 'the dead target is marked down');
      });
    });
  });
}
