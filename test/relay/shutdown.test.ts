import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { NativeRelayEngine } from '../../src/relay/native/engine.js';
import { echoServer } from '../fixtures/tcp.js';
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
  });
}
