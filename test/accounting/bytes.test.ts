import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gatewayTokens } from '../../src/accounting/gateway-tokens.js';
import { echoServer } from '../fixtures/tcp.js';
import { type TestServer } from '../helpers/listen.js';
import { connectTo, countUntilClose, sendBytes } from '../helpers/sockets.js';
import { engines, jsEngine, type Running, startTidegate } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

const N = 3 * 1024 * 1024 + 12_345;

for (const engine of engines()) {
  describe(`exact byte counts through a forward service (${engine.kind} engine)`, () => {
    let echo: TestServer;
    before(async () => {
      echo = await echoServer();
    });
    after(() => echo.close());
    /** User alice's forward service to the echo target. */
    const startForward = (): Promise<Running> => startTidegate({
      users: [{ id: 'alice' }],
      services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'alice', targets: [echo.address] }],
    }, { engine });

    it('books every byte in and out to the user and the service, and counts the connection', async () => {
      const tg = await startForward();
      try {
        const client = await connectTo(tg.port('fwd'));
        const received = countUntilClose(client);
        let got = 0;
        client.on('data', (c: Buffer) => {
          got += c.length;
          if (got === N) client.end();
        });
        await sendBytes(client, N);
        assert.equal(await received, N);
        await eventually(() => tg.records.length, (n) => n === 1);
        assert.equal(tg.records[0]!.bytesIn, N);
        assert.equal(tg.records[0]!.bytesOut, N);
        const usage = tg.runtime.accounting.usage('alice')!;
        assert.equal(usage.live.bytesIn, N);
        assert.equal(usage.live.bytesOut, N);
        assert.equal(usage.live.connections, 1);
        assert.equal(usage.live.liveConnections, 0);
      } finally {
        await tg.stop();
      }
    });

    it('counts a live connection while it runs, not only when it closes', async () => {
      const tg = await startForward();
      try {
        const client = await connectTo(tg.port('fwd'));
        let got = 0;
        client.on('data', (c: Buffer) => (got += c.length));
        await sendBytes(client, 256 * 1024);
        await eventually(() => got, (n) => n === 256 * 1024);
        const usage = await eventually(
          () => tg.runtime.accounting.usage('alice')!, (u) => u.live.bytesOut === 256 * 1024,
        );
        assert.equal(usage.live.bytesIn, 256 * 1024);
        assert.equal(usage.live.bytesOut, 256 * 1024);
        assert.equal(usage.live.liveConnections, 1);
        assert.equal(tg.records.length, 0, 'the relay is still open');
        client.destroy();
      } finally {
        await tg.stop();
      }
    });
  });
}

describe('gateway usage', () => {
  it('books requests and tokens to the user and the service', async () => {
    const tg = await startTidegate({
      users: [{ id: 'alice', quota: { bytes: '1GiB' } }],
      services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'alice', targets: ['127.0.0.1:9'] }],
    }, { engine: jsEngine });
    try {
      tg.runtime.accounting.addRequest('alice', 'llm', 1200);
      tg.runtime.accounting.addRequest('alice', 'llm', 34);
      const usage = tg.runtime.accounting.usage('alice')!;
      assert.equal(usage.live.requests, 2);
      assert.equal(usage.live.tokens, 1234);
      assert.equal(tg.runtime.accounting.check('alice'), null);
      assert.equal(tg.runtime.accounting.check('nobody'), null);
      const row = { service: 'llm', user: 'alice', promptTokens: 10, completionTokens: 5 };
      assert.equal(gatewayTokens({ ...row, totalTokens: 16 }), 16, "the upstream's total wins");
      assert.equal(gatewayTokens({ ...row, totalTokens: null }), 15);
      assert.equal(gatewayTokens({ ...row, promptTokens: null, completionTokens: null, totalTokens: null }), 0);
    } finally {
      await tg.stop();
    }
  });
});
