import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { countFds, newEngine, openFdCount, skipNative, startFront } from './harness.js';
import { connectTo } from '../helpers/sockets.js';
import { listen } from '../helpers/listen.js';

describe('native relay: resources', { skip: skipNative, timeout: 300_000 }, () => {
  it('opens and closes 10,000 relays without leaking fds or pipes', async () => {
    const engine = newEngine();
    const target = await listen((socket) => {
      socket.end('ok'); // a reply and a half-close; the client ends its side after reading it
      socket.resume();
    });
    const front = await startFront(engine, target.port);
    // Warm up so lazily created fds (the epoll thread's, pooled pipes) exist before counting.
    await runBatch(front.port, 50);
    await front.closedCount(50);
    const fdsBefore = openFdCount();
    const pipesBefore = countFds('pipe:');
    const total = 10_000;
    const batch = 250;
    for (let done = 50; done < total + 50; done += batch) {
      await runBatch(front.port, batch);
      await front.closedCount(done + batch);
    }
    const stats = engine.nativeStats();
    assert.equal(front.closed.length, total + 50);
    assert.ok(front.closed.every(
      (c) => c.result.reason === 'done' && c.result.bytesOut === 2 && c.result.bytesIn === 0,
    ));
    assert.equal(engine.liveCount, 0);
    assert.equal(stats.liveRelays, 0);
    assert.equal(stats.pipesInUse, 0);
    assert.ok(stats.pipesOpen <= 64, `pooled pipes are bounded, got ${stats.pipesOpen}`);
    assert.ok(countFds('pipe:') <= pipesBefore + 2 * 64, 'pipe fds bounded by the pool');
    assert.ok(openFdCount() <= fdsBefore + 2 * 64 - 2 * 0, `fds before ${fdsBefore}, after ${openFdCount()}`);
    await engine.shutdown();
    await Promise.all([front.server.close(), target.close()]);
    // Once the engine is gone every pipe it pooled is closed too.
    assert.ok(countFds('pipe:') <= pipesBefore, `pipe fds before ${pipesBefore}, after shutdown ${countFds('pipe:')}`);
  });
});

async function runBatch(port: number, count: number): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, async () => {
      const c = await connectTo(port);
      await new Promise<void>((resolve) => {
        c.resume();
        c.once('end', () => {
          c.end();
          resolve();
        });
      });
      await new Promise((resolve) => c.once('close', resolve));
    }),
  );
}
