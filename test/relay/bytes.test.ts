import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { listen } from '../helpers/listen.js';
import { exchangeRandom, randomTarget } from '../helpers/random-exchange.js';
import { connectTo } from '../helpers/sockets.js';
import { availableEngines, startTidegate } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

const SIZE = 64 * 1024 * 1024;

for (const engine of availableEngines()) {
  describe(`relay (${engine.kind}): byte-exact`, () => {
    it('relays 64 MiB of random data each way at once, hashes equal, counts exact', async () => {
      const target = await randomTarget(SIZE);
      const tg = await startTidegate({
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
      }, { engine });
      try {
        await exchangeRandom(tg.port('fwd'), SIZE, target);
        await eventually(() => tg.records.length === 1, 5_000, 'relay record');
        const record = tg.records[0]!;
        assert.equal(record.bytesIn, SIZE);
        assert.equal(record.bytesOut, SIZE);
        assert.equal(record.reason, 'done');
        assert.equal(record.service, 'fwd');
        assert.equal(record.target, target.address);
        const status = tg.status('fwd');
        assert.deepEqual(status.bytes, { in: SIZE, out: SIZE });
        assert.equal(status.connections.total, 1);
        assert.equal(status.connections.live, 0);
      } finally {
        await tg.stop();
        await target.close();
      }
    });

    it('relays bytes the target sends before the client says anything (server banners)', async () => {
      const target = await listen((socket) => {
        socket.end('SSH-2.0-banner\r\n');
      });
      const tg = await startTidegate({
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
      }, { engine });
      try {
        const client = await connectTo(tg.port('fwd'));
        const chunks: Buffer[] = [];
        client.on('data', (c: Buffer) => chunks.push(c));
        await new Promise((resolve) => client.once('end', resolve));
        client.end();
        assert.equal(Buffer.concat(chunks).toString(), 'SSH-2.0-banner\r\n');
      } finally {
        await tg.stop();
        await target.close();
      }
    });
  });
}
