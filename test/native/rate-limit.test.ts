import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { newEngine, pattern, skipNative, startFront } from './harness.js';
import { connectTo } from '../helpers/sockets.js';
import { listen } from '../helpers/listen.js';
import { eventually, sleep } from '../helpers/wait.js';

/** Resolves at the socket's next 'drain', or at its 'close' (a closed socket never drains). */
function drainedOrClosed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

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
    const chunk = pattern(64 << 10, 9);
    let writing = true;
    // Writes until told to stop or the socket closes (a destroyed socket never drains, and must not be written to).
    const pump = async (c: Socket): Promise<void> => {
      while (writing && c.writable) {
        if (!c.write(chunk)) await drainedOrClosed(c);
      }
    };
    let pumps: Promise<void>[] = [];
    try {
      await eventually(() => front.relays.length === 2, 20_000, 'relays');
      const started = performance.now();
      pumps = clients.map((c) => pump(c));
      await sleep(2500);
      const bytes = received;
      const elapsedS = (performance.now() - started) / 1000;
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
      // set() applies live: lifting the limit lets the clients' bytes through at once. They keep writing until then:
      // what they had queued when stopped is bounded by socket buffers, which can be well under 4 × rate.
      limit.set(0, 0);
      const lifted = received;
      await eventually(() => received > lifted + 4 * rate, 20_000, 'unlimited flow after set(0, 0)');
    } finally {
      // Also after a failed assertion: a live engine, server or socket would keep the test process from exiting.
      writing = false;
      for (const c of clients) c.resetAndDestroy();
      await Promise.all(pumps);
      await front.closedCount(2);
      limit.dispose();
      await engine.shutdown();
      await Promise.all([front.server.close(), target.close()]);
    }
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
