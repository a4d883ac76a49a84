import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newEngine, pattern, skipNative, startFront } from './harness.js';
import { connectTo } from '../helpers/sockets.js';
import { listen } from '../helpers/listen.js';
import { eventually, sleep } from '../helpers/wait.js';

describe('native relay: stats batching', { skip: skipNative, timeout: 120_000 }, () => {
  it('reports counters in batches, not per chunk, and live counters move while bytes flow', async () => {
    const engine = newEngine();
    const target = await listen((socket) => {
      socket.resume();
      socket.once('end', () => socket.end());
    });
    const front = await startFront(engine, target.port);
    const client = await connectTo(front.port);
    await eventually(() => front.relays.length === 1, 20_000, 'relay start');
    const relay = front.relays[0]!;
    const chunk = pattern(16 << 10, 3);
    const before = engine.deliveryStats();
    const started = performance.now();
    let writes = 0;
    const liveSamples: number[] = [];
    // Paced small writes: thousands of chunks over about a second.
    while (performance.now() - started < 1000) {
      for (let i = 0; i < 16; i++) {
        client.write(chunk);
        writes++;
      }
      await sleep(2);
      liveSamples.push(relay.bytesIn);
    }
    client.end();
    const { result } = await front.closeOf(0);
    const elapsedMs = performance.now() - started;
    const after = engine.deliveryStats();
    const deliveries = after.deliveries - before.deliveries;
    assert.equal(result.bytesIn, writes * chunk.length);
    // One delivery per ~100 ms tick at most (plus the close), whatever the number of chunks.
    assert.ok(deliveries <= Math.ceil(elapsedMs / 100) + 3, `${deliveries} deliveries in ${elapsedMs.toFixed(0)} ms`);
    assert.ok(deliveries * 20 < writes, `${deliveries} deliveries for ${writes} chunks`);
    // Live counters were updated from those batches before the close.
    assert.ok(liveSamples.some((v) => v > 0 && v < result.bytesIn), 'live bytesIn moved during the transfer');
    await engine.shutdown();
    client.destroy();
    await Promise.all([front.server.close(), target.close()]);
  });

  it('delivers the closes of many relays in few batches', async () => {
    const engine = newEngine();
    const target = await listen((socket) => socket.resume());
    const front = await startFront(engine, target.port);
    const clients = await Promise.all(Array.from({ length: 200 }, () => connectTo(front.port)));
    await eventually(() => front.relays.length === 200, 20_000, 'relays started');
    const before = engine.deliveryStats();
    const closing = engine.shutdown();
    await closing;
    const after = engine.deliveryStats();
    assert.equal(front.closed.length, 200);
    assert.ok(front.closed.every((c) => c.result.reason === 'shutdown'));
    assert.ok(
      after.deliveries - before.deliveries <= 2, `${after.deliveries - before.deliveries} deliveries for 200 closes`,
    );
    for (const c of clients) c.destroy();
    await Promise.all([front.server.close(), target.close()]);
  });
});
