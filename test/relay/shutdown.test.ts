import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { NativeRelayEngine } from '../../src/relay/native/engine.js';
import { echoServer, firehose } from '../fixtures/tcp.js';
import { connectTo, readAll, readBytes } from '../helpers/sockets.js';
import { availableEngines, type Running, startTidegate } from '../helpers/tidegate.js';
import { eventually, sleep } from '../helpers/wait.js';

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Open fds other than the native engine's pooled empty pipes (two fds each; the pool is bounded and reused). */
function fdsBesidesPooledPipes(tg: Running): number {
  const engine = tg.runtime.engine;
  return openFds() - (engine instanceof NativeRelayEngine ? 2 * engine.nativeStats().pipesPooled : 0);
}

for (const engine of availableEngines()) {
  describe(`relay (${engine.kind}): shutdown and resources`, () => {
    it('graceful shutdown stops accepting, lets live relays flow within the grace period, '
      + 'then closes them', async () => {
      const target = await echoServer();
      const tg = await startTidegate({
        shutdownGrace: '600ms',
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
      }, { engine });
      const port = tg.port('fwd');
      const client = await connectTo(port);
      client.write('before');
      assert.equal((await readBytes(client, 6)).toString(), 'before');
      const stopping = tg.stop();
      await sleep(50);
      // Still flowing during the grace period.
      client.write('during');
      assert.equal((await readBytes(client, 6)).toString(), 'during');
      // No longer accepting.
      const refused = await new Promise<string>((resolve) => {
        const s = connect({ port, host: '127.0.0.1' }, () => resolve('connected'));
        s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
      assert.equal(refused, 'ECONNREFUSED');
      const closedAt = new Promise<number>((resolve) => client.once('end', () => resolve(Date.now())));
      client.on('error', () => undefined);
      client.resume();
      await stopping;
      await closedAt;
      assert.equal(tg.records.at(-1)!.reason, 'shutdown');
      await target.close();
    });

    it('leaves the fd count unchanged after 1,000 relayed connections', async () => {
      const target = await echoServer();
      const tg = await startTidegate({
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
      }, { engine });
      try {
        const port = tg.port('fwd');
        // Warm up so lazily opened fds (e.g. the engine's) exist before the baseline.
        for (let i = 0; i < 5; i++) {
          const c = await connectTo(port);
          const r = readAll(c);
          c.end('warm');
          await r;
        }
        await eventually(() => tg.status('fwd').connections.live === 0, 5_000, 'warm-up done');
        const before = fdsBesidesPooledPipes(tg);
        for (let batch = 0; batch < 10; batch++) {
          await Promise.all(Array.from({ length: 100 }, async () => {
            const c = await connectTo(port);
            const r = readAll(c);
            c.end('x'.repeat(100));
            await r;
          }));
        }
        await eventually(
          () => tg.status('fwd').connections.live === 0 && target.sockets.size === 0, 10_000, 'all relays closed',
        );
        await eventually(
          () => fdsBesidesPooledPipes(tg) <= before, 5_000,
          `fd count back to ${before} (now ${fdsBesidesPooledPipes(tg)})`,
        );
        assert.equal(tg.status('fwd').connections.total, 1005);
      } finally {
        await tg.stop();
        await target.close();
      }
    });

    it('a stop while relays are throttled, half-closed and blocked on backpressure closes every connection',
      async () => {
        const hose = await firehose();
        const tg = await startTidegate({
          shutdownGrace: '100ms',
          services: [{
            name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [hose.address],
            perIp: { rate: `${64 * 1024}B/s` },
          }, { name: 'open', type: 'forward', listen: '127.0.0.1:0', targets: [hose.address] }],
        }, { engine });
        try {
          const port = tg.port('fwd');
          // Three reading clients share one bucket and one half-closes; an unthrottled one reads nothing, so its
          // relay stops on backpressure.
          const reading = [await connectTo(port), await connectTo(port), await connectTo(port)];
          const halfClosed = await connectTo(port);
          const stalled = await connectTo(tg.port('open'));
          stalled.pause();
          const clients = [...reading, halfClosed, stalled];
          let moved = 0;
          for (const c of [...reading, halfClosed]) c.on('data', (chunk: Buffer) => (moved += chunk.length));
          const clientsOver = clients.map(connectionOver);
          await eventually(() => hose.sockets.size === clients.length, 5_000, 'every target connection');
          const targetsOver = [...hose.sockets].map(connectionOver);
          halfClosed.end();
          await eventually(() => moved > 0, 10_000, 'bytes relayed');
          // Blocked on backpressure: bytes went to the stalled client and no more go. How much the kernel takes
          // before that is its own business (a wait for 1 MiB timed out where it took 1.0 MiB).
          await stuck(() => tg.status('open').bytes.out, 'the relay to the stalled client blocked');
          // Two clients go away just before the stop, as a test's teardown does.
          reading[0]!.destroy();
          reading[1]!.destroy();
          await tg.stop();
          // The stalled client sees its EOF once it reads what was queued.
          stalled.resume();
          assert.equal((await Promise.all(clientsOver)).length, clients.length);
          assert.equal((await Promise.all(targetsOver)).length, clients.length);
          assert.equal(tg.records.length, clients.length);
          assert.equal(tg.status('fwd').connections.live + tg.status('open').connections.live, 0);
        } finally {
          await tg.stop();
          await hose.close();
        }
      });
  });
}

const STUCK_MS = 300;

/**
 * Resolves once `read()` (a relay's byte count) is above 0 and the same on two reads STUCK_MS apart: the relay moved
 * bytes and moves no more. Native counters arrive in batches ~100 ms apart, so the gap is several of them.
 */
async function stuck(read: () => number, what: string): Promise<void> {
  let last = -1;
  await eventually(async () => {
    const now = read();
    if (now > 0 && now === last) return true;
    last = now;
    await sleep(STUCK_MS);
    return false;
  }, 10_000, what);
}

/** Resolves once `socket` has seen its connection end: an EOF, an error or its close. */
function connectionOver(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    socket.once('end', () => resolve('end'));
    socket.once('close', () => resolve('close'));
  });
}
