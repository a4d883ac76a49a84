import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newEngine, pattern, skipNative, startFront } from './harness.js';
import { connectTo } from '../helpers/sockets.js';
import { listen } from '../helpers/listen.js';
import { eventually, sleep } from '../helpers/wait.js';

describe('native relay: rate limits', { skip: skipNative, timeout: 60_000 }, () => {
  it('shares one limit between two connections (bounded by rate x time + one second of burst)', async () => {
    const engine = newEngine();
    const rate = 256 << 10; // 256 KiB/s client -> target, shared
    const limit = engine.createRateLimit(rate, 0);
    let received = 0;
    const target = await listen((socket) => socket.on('data', (d: Buffer) => (received += d.length)));
    const front = await startFront(engine, target.port, {
      relay: { idleTimeoutMs: 0, halfCloseTimeoutMs: 0, rateLimit: limit },
    });
    const clients = await Promise.all([connectTo(front.port), connectTo(front.port)]);
    await eventually(() => front.relays.length === 2, 20_000, 'relays');
    const chunk = pattern(64 << 10, 9);
    let writing = true;
    const pump = async (c: (typeof clients)[number]): Promise<void> => {
      while (writing) {
        if (!c.write(chunk)) await new Promise((resolve) => c.once('drain', resolve));
      }
    };
    const started = performance.now();
    const pumps = clients.map((c) => pump(c));
    await sleep(2500);
    const bytes = received;
    const elapsedS = (performance.now() - started) / 1000;
    writing = false;
    // Each connection alone could push far more than the whole shared allowance.
    const bound = rate * elapsedS + rate;
    assert.ok(
      bytes <= bound, `${bytes} bytes in ${elapsedS.toFixed(2)} s exceeds the shared bound ${bound.toFixed(0)}`,
    );
    assert.ok(bytes > 0, 'the limited relays still moved bytes');
    // Both relays got a share: the limit is shared, not handed to one connection.
    assert.ok(
      front.relays.every((r) => r.bytesIn > 0), `per-relay bytes ${front.relays.map((r) => r.bytesIn).join(',')}`,
    );
    // set() applies live: lifting the limit lets the backlog through at once.
    limit.set(0, 0);
    const lifted = received;
    await eventually(() => received > lifted + 4 * rate, 20_000, 'unlimited flow after set(0, 0)');
    for (const c of clients) c.resetAndDestroy(); // pumps blocked on 'drain' are abandoned with their sockets
    void pumps;
    await front.closedCount(2);
    limit.dispose();
    await engine.shutdown();
    await Promise.all([front.server.close(), target.close()]);
  });

  it('limits the target -> client direction with the out rate', async () => {
    const engine = newEngine();
    const rate = 128 << 10;
    const limit = engine.createRateLimit(0, rate);
    const payload = pattern(4 << 20, 4);
    const target = await listen((socket) => {
      socket.write(payload);
      socket.resume();
    });
    const front = await startFront(engine, target.port, {
      relay: { idleTimeoutMs: 0, halfCloseTimeoutMs: 0, rateLimit: limit },
    });
    const client = await connectTo(front.port);
    let received = 0;
    client.on('data', (d: Buffer) => (received += d.length));
    const started = performance.now();
    await sleep(1500);
    const elapsedS = (performance.now() - started) / 1000;
    assert.ok(received <= rate * elapsedS + rate, `${received} bytes in ${elapsedS.toFixed(2)} s`);
    assert.ok(received > 0);
    client.resetAndDestroy();
    await front.closedCount(1);
    await engine.shutdown();
    await Promise.all([front.server.close(), target.close()]);
  });
});
