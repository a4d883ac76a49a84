import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { echoServer } from '../fixtures/tcp.js';
import { connectTo, readAll } from '../helpers/sockets.js';
import { availableEngines, startTidegate } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

for (const engine of availableEngines()) {
  describe(`relay (${engine.kind}): concurrency`, () => {
    it('carries 1,000 concurrent connections, each byte-exact', async () => {
      const target = await echoServer();
      const tg = await startTidegate({
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
      }, { engine });
      try {
        const port = tg.port('fwd');
        const clients = await Promise.all(Array.from({ length: 1000 }, () => connectTo(port)));
        await eventually(() => tg.status('fwd').connections.live === 1000, 10_000, '1,000 live relays');
        const results = await Promise.all(
          clients.map(async (client) => {
            const payload = randomBytes(1024);
            const echoed = readAll(client);
            client.end(payload);
            return Buffer.compare(await echoed, payload) === 0;
          }),
        );
        assert.equal(results.filter(Boolean).length, 1000);
        await eventually(() => tg.records.length === 1000, 10_000, '1,000 records');
        assert.equal(tg.records.reduce((n, r) => n + r.bytesIn, 0), 1000 * 1024);
        assert.equal(tg.records.reduce((n, r) => n + r.bytesOut, 0), 1000 * 1024);
      } finally {
        await tg.stop();
        await target.close();
      }
    });

    it('refuses connections over maxConnections at once and counts them', async () => {
      const target = await echoServer();
      const tg = await startTidegate(
        {
          services: [{
            name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address], maxConnections: 2,
          }],
        },
        { engine },
      );
      try {
        const port = tg.port('fwd');
        const held = [await connectTo(port), await connectTo(port)];
        await eventually(() => tg.status('fwd').connections.live === 2, 5_000, 'two live relays');
        // Refused at once: the reset may arrive during the connect or right after it.
        const outcome = await new Promise<string>((resolve) => {
          const third = connect({ port, host: '127.0.0.1' }, () => third.write('anyone there?'));
          third.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
          third.once('end', () => resolve('end'));
        });
        assert.ok(['ECONNRESET', 'end', 'EPIPE'].includes(outcome), `refused connection saw ${outcome}`);
        assert.equal(tg.status('fwd').connections.refused, 1);
        // Below the limit again, new connections are served.
        held[0]!.destroy();
        await eventually(() => tg.status('fwd').connections.live === 1, 5_000, 'one live relay');
        const fourth = await connectTo(port);
        const echoed = readAll(fourth);
        fourth.end('hello');
        assert.equal((await echoed).toString(), 'hello');
        held[1]!.destroy();
      } finally {
        await tg.stop();
        await target.close();
      }
    });
  });
}
