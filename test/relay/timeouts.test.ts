import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blackhole } from '../fixtures/blackhole.js';
import { echoServer, taggedServer } from '../fixtures/tcp.js';
import { freePort } from '../helpers/listen.js';
import { connectTo, readAll, readLine } from '../helpers/sockets.js';
import { availableEngines, startTidegate } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

for (const engine of availableEngines()) {
  describe(`relay (${engine.kind}): timeouts and failover`, () => {
    it('a target that does not answer in connectTimeout is abandoned for the next one', async () => {
      const hole = await blackhole();
      const good = await taggedServer('good');
      const tg = await startTidegate(
        {
          services: [{
            name: 'fwd', type: 'forward', listen: '127.0.0.1:0', strategy: 'failover', connectTimeout: '300ms',
            targets: [`127.0.0.1:${hole.port}`, good.address],
          }],
        },
        { engine },
      );
      try {
        const started = Date.now();
        const client = await connectTo(tg.port('fwd'));
        assert.equal(await readLine(client), 'good');
        assert.ok(Date.now() - started >= 250, 'the first target was given its connect timeout');
        client.destroy();
        const detail = tg.status('fwd').detail as { targets: { address: string; up: boolean }[] };
        assert.equal(detail.targets[0]!.up, false);
        assert.equal(detail.targets[1]!.up, true);
      } finally {
        await tg.stop();
        await good.close();
        hole.close();
      }
    });

    it('closes the client only when every target fails, and records why', async () => {
      // Two ports nothing listens on (from freePort: below the ephemeral range, so no connect gets one as its own).
      const targets = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
      const tg = await startTidegate(
        { services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets }] },
        { engine },
      );
      try {
        const client = await connectTo(tg.port('fwd'));
        const got = await readAll(client).catch(() => Buffer.alloc(0));
        assert.equal(got.length, 0);
        await eventually(() => tg.records.length === 1, 5_000, 'record');
        assert.equal(tg.records[0]!.reason, 'upstream_unavailable');
        const status = tg.status('fwd');
        assert.equal(status.state, 'running', 'a dead target never stops the service');
        assert.equal((status.detail as { failed: number }).failed, 1);
      } finally {
        await tg.stop();
      }
    });

    // Only the native engine watches a client while its target is dialed: Node does not read a paused socket, so with
    // Node dialing a client's reset is noticed once the dial ends (connected or timed out).
    const dialWatch = engine.kind === 'native' ? false
      : 'Node notices a paused client\'s reset only when its dial ends';
    it('records a client that leaves while its target is being dialed as client_gone, '
      + 'and frees the target', { skip: dialWatch }, async () => {
      const hole = await blackhole();
      const tg = await startTidegate(
        {
          services: [{
            name: 'fwd', type: 'forward', listen: '127.0.0.1:0', connectTimeout: '10s',
            targets: [`127.0.0.1:${hole.port}`],
          }],
        },
        { engine },
      );
      try {
        const client = await connectTo(tg.port('fwd'));
        const detail = (): { targets: { live: number }[] } =>
          tg.status('fwd').detail as { targets: { live: number }[] };
        await eventually(() => detail().targets[0]!.live === 1, 5_000, 'the dial started');
        client.resetAndDestroy();
        await eventually(() => tg.records.length === 1, 5_000, 'record');
        assert.equal(tg.records[0]!.reason, 'client_gone');
        assert.equal(tg.records[0]!.target, '');
        assert.equal(detail().targets[0]!.live, 0);
        assert.equal(tg.status('fwd').connections.live, 0);
      } finally {
        await tg.stop();
        hole.close();
      }
    });

    it('a target marked down is probed and used again once it is back', async () => {
      const a = await taggedServer('a');
      const port = a.port;
      const b = await taggedServer('b');
      const tg = await startTidegate(
        {
          services: [{
            name: 'fwd', type: 'forward', listen: '127.0.0.1:0', strategy: 'failover', targetBackoff: '100ms',
            targets: [a.address, b.address],
          }],
        },
        { engine },
      );
      try {
        await a.close();
        const first = await connectTo(tg.port('fwd'));
        assert.equal(await readLine(first), 'b');
        first.destroy();
        // Bring "a" back on the same port; the background probe marks it up.
        const revived = await taggedServer('a', port);
        await eventually(
          () => (tg.status('fwd').detail as { targets: { up: boolean }[] }).targets[0]!.up, 5_000,
          'probe marks the target up',
        );
        const second = await connectTo(tg.port('fwd'));
        assert.equal(await readLine(second), 'a');
        second.destroy();
        await revived.close();
      } finally {
        await tg.stop();
        await b.close();
      }
    });

    it('closes a relay with no traffic for idleTimeout', async () => {
      const target = await echoServer();
      const tg = await startTidegate(
        {
          services: [{
            name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address], idleTimeout: '300ms',
          }],
        },
        { engine },
      );
      try {
        const client = await connectTo(tg.port('fwd'));
        client.on('data', () => undefined);
        client.write('ping');
        await new Promise((resolve) => client.once('end', resolve));
        await eventually(() => tg.records.length === 1, 5_000, 'record');
        assert.equal(tg.records[0]!.reason, 'idle_timeout');
        assert.equal(tg.records[0]!.bytesIn, 4);
        assert.equal(tg.records[0]!.bytesOut, 4);
      } finally {
        await tg.stop();
        await target.close();
      }
    });
  });
}
