import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { socks5Connect } from '../helpers/proxy-client.js';
import { echoServer } from '../fixtures/tcp.js';
import { connectTo, countUntilClose, sendBytes } from '../helpers/sockets.js';
import { jsEngine, startTidegate } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

describe('accounting on proxy services', () => {
  it('books relayed bytes (not the handshake) to the proxy user and refuses the user past the quota', async () => {
    const echo = await echoServer();
    const tg = await startTidegate({
      users: [{ id: 'alice', quota: { bytes: '40000', direction: 'in' } }],
      services: [{ name: 'px', type: 'proxy', listen: '127.0.0.1:0', allowDestinations: ['127.0.0.0/8'], routing: 'direct', user: 'alice' }],
    }, { engine: jsEngine });
    try {
      const { socket, reply } = await socks5Connect(tg.port('px'), '127.0.0.1', echo.port);
      assert.equal(reply, 0);
      const done = countUntilClose(socket);
      let got = 0;
      socket.on('data', (c: Buffer) => {
        got += c.length;
        if (got === 40_000) socket.end();
      });
      // The handshake helper leaves the socket paused.
      socket.resume();
      await sendBytes(socket, 40_000);
      assert.equal(await done, 40_000);
      await eventually(() => tg.records.length, (n) => n === 1);
      const usage = tg.runtime.accounting.usage('alice')!;
      assert.equal(usage.live.bytesIn, 40_000);
      assert.equal(usage.live.bytesOut, 40_000);
      assert.equal(usage.quota!.refusal, 'quota_exceeded');
      const refused = await connectTo(tg.port('px'));
      refused.write(Buffer.from([0x05, 0x01, 0x00]));
      assert.equal(await countUntilClose(refused), 0, 'no SOCKS5 greeting for a user past the quota');
      await eventually(() => tg.records.length, (n) => n === 2);
      assert.equal(tg.records[1]!.reason, 'quota_exceeded');
    } finally {
      await tg.stop();
      await echo.close();
    }
  });
});
