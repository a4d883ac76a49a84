import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { taggedServer } from '../fixtures/tcp.js';
import { freePort } from '../helpers/listen.js';
import { connectTo, readLine } from '../helpers/sockets.js';
import { availableEngines, type Running, startTidegate } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

const HELD = 120;

interface TargetJson {
  address: string;
  live: number;
  up: boolean;
  failures: number;
}

/** The forward service's targets as GET /status shows them. */
async function targetsOf(tg: Running, service: string): Promise<TargetJson[]> {
  const body = (await (await fetch(`http://${tg.runtime.adminAddress()!}/status`)).json()) as {
    services: { name: string; state: string; detail: { targets: TargetJson[] } }[];
  };
  const svc = body.services.find((s) => s.name === service && s.state === 'running')!;
  return svc.detail.targets;
}

function lives(targets: TargetJson[]): Record<string, number> {
  return Object.fromEntries(targets.map((t) => [t.address, t.live]));
}

async function openHeld(port: number, count: number): Promise<{ sockets: Socket[]; tags: string[] }> {
  const sockets: Socket[] = [];
  const tags: string[] = [];
  for (let i = 0; i < count; i++) {
    const socket = await connectTo(port);
    sockets.push(socket);
    tags.push(await readLine(socket));
  }
  return { sockets, tags };
}

for (const engine of availableEngines()) {
  describe(`relay (${engine.kind}): targets across reloads`, () => {
    it('reloads A -> B -> A keep live counts exact and least-connections balances on them', async () => {
      const a = await taggedServer('a');
      const b = await taggedServer('b');
      const doc = (targets: string[]): Record<string, unknown> => ({
        admin: { listen: '127.0.0.1:0' },
        shutdownGrace: '30s',
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', strategy: 'least-connections', targets }],
      });
      const tg = await startTidegate(doc([a.address]), { engine });
      const held: Socket[] = [];
      try {
        const port = tg.port('fwd');
        const first = await openHeld(port, HELD);
        held.push(...first.sockets);
        assert.ok(first.tags.every((t) => t === 'a'));
        assert.deepEqual(lives(await targetsOf(tg, 'fwd')), { [a.address]: HELD });

        // A -> B: A is no longer listed, its relays still run and count on it.
        tg.setSource(doc([b.address]));
        assert.equal((await tg.runtime.reloadFromSource()).ok, true);
        assert.deepEqual(lives(await targetsOf(tg, 'fwd')), { [b.address]: 0 });
        const onB = await openHeld(port, 3);
        held.push(...onB.sockets);
        assert.deepEqual(onB.tags, ['b', 'b', 'b']);

        // B -> A (+B): A is the same target again, with its live relays.
        tg.setSource(doc([a.address, b.address]));
        assert.equal((await tg.runtime.reloadFromSource()).ok, true);
        assert.deepEqual(lives(await targetsOf(tg, 'fwd')), { [a.address]: HELD, [b.address]: 3 });

        // Least-connections sends every new connection to B while A has more.
        const balanced = await openHeld(port, 10);
        held.push(...balanced.sockets);
        assert.deepEqual(balanced.tags, Array(10).fill('b'));
        assert.deepEqual(lives(await targetsOf(tg, 'fwd')), { [a.address]: HELD, [b.address]: 13 });

        // Once more round (A only, then both): still exact; releases land on the same objects.
        tg.setSource(doc([a.address]));
        await tg.runtime.reloadFromSource();
        tg.setSource(doc([b.address, a.address]));
        await tg.runtime.reloadFromSource();
        for (const s of first.sockets.slice(0, HELD - 5)) s.destroy();
        await eventually(async () => lives(await targetsOf(tg, 'fwd'))[a.address] === 5, 10_000, 'A down to 5 live');
        assert.deepEqual(lives(await targetsOf(tg, 'fwd')), { [b.address]: 13, [a.address]: 5 });
        const next = await openHeld(port, 1);
        held.push(...next.sockets);
        assert.deepEqual(next.tags, ['a'], 'now A has fewer');
        for (const s of held) s.destroy();
        await eventually(
          async () => Object.values(lives(await targetsOf(tg, 'fwd'))).every((n) => n === 0), 10_000, 'all released',
        );
        assert.equal(tg.status('fwd').connections.live, 0);
      } finally {
        for (const s of held) s.destroy();
        await tg.stop();
        await a.close();
        await b.close();
      }
    });

    it('a down target listed by the next config stays down and keeps being probed', async () => {
      const a = await taggedServer('a');
      // A port nothing listens on until the test revives it: from freePort, below the ephemeral range, so neither a
      // probe's own local port (a self-connect that looks "up") nor anyone else's can be that port meanwhile.
      const deadPort = await freePort();
      const deadAddress = `127.0.0.1:${deadPort}`;
      const doc = (targets: string[], strategy: string): Record<string, unknown> => ({
        admin: { listen: '127.0.0.1:0' },
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', strategy, targetBackoff: '100ms', targets }],
      });
      const tg = await startTidegate(doc([deadAddress, a.address], 'failover'), { engine });
      let revived: Awaited<ReturnType<typeof taggedServer>> | null = null;
      try {
        const client = await connectTo(tg.port('fwd'));
        assert.equal(await readLine(client), 'a', 'failed over past the dead target');
        client.destroy();
        await eventually(async () => (await targetsOf(tg, 'fwd'))[0]!.up === false, 5_000, 'dead marked down');
        tg.setSource(doc([a.address, deadAddress], 'round-robin'));
        assert.equal((await tg.runtime.reloadFromSource()).ok, true);
        const [up, down] = await targetsOf(tg, 'fwd');
        assert.deepEqual([up!.up, down!.address, down!.up], [true, deadAddress, false], 'health carried over');
        // The probe scheduled before the reload goes on under the new pool: the target comes back by itself.
        revived = await taggedServer('dead', deadPort);
        await eventually(async () => (await targetsOf(tg, 'fwd'))[1]!.up, 15_000, 'probe marks it up');
      } finally {
        await tg.stop();
        await a.close();
        await revived?.close();
      }
    });
  });
}
