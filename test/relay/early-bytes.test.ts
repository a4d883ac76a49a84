import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import type { RelayResult } from '../../src/contracts/relay-engine.js';
import { listen } from '../helpers/listen.js';
import { exchangeRandom, randomTarget } from '../helpers/random-exchange.js';
import { availableEngines } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

const SIZE = 4 * 1024 * 1024;

for (const factory of availableEngines()) {
  describe(`relay (${factory.kind}): bytes read before the relay started`, { timeout: 60_000 }, () => {
    it('passes on what both sockets had buffered first, then the rest, in order and counted', async () => {
      const engine = factory.create();
      const target = await randomTarget(SIZE);
      let result: RelayResult | null = null;
      let failed: Error | null = null;
      const front = await listen((client: Socket) => {
        // Neither socket has a reader yet: Node fills both streams' buffers before the engine takes them.
        const upstream = netConnect({ port: target.port, host: '127.0.0.1', allowHalfOpen: true });
        upstream.on('error', () => client.destroy());
        eventually(() => client.readableLength > 0 && upstream.readableLength > 0, 10_000, 'both sides buffered')
          .then(() => {
            const options = { idleTimeoutMs: 0, halfCloseTimeoutMs: 0, rateLimit: null };
            engine.start(client, upstream, options, (_relay, r) => {
              result = r;
            });
          })
          .catch((error: Error) => {
            failed = error;
            client.destroy();
          });
      });
      try {
        await exchangeRandom(front.port, SIZE, target);
        assert.equal(failed, null);
        await eventually(() => result !== null, 5_000, 'relay result');
        const r = result as RelayResult | null;
        assert.equal(r?.bytesIn, SIZE);
        assert.equal(r?.bytesOut, SIZE);
        assert.equal(r?.reason, 'done');
      } finally {
        await engine.shutdown();
        await front.close();
        await target.close();
      }
    });
  });
}
