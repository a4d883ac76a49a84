import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nativeOptionsFromEnv } from '../../src/relay/native/index.js';
import { drain, newEngine, pattern, sendAll, sha256, skipNative, startFront } from './harness.js';
import { connectTo } from '../helpers/sockets.js';
import { listen } from '../helpers/listen.js';
import type { NativeRelayEngine } from '../../src/relay/native/index.js';

/** Runs `count` concurrent relays, each sending `size` bytes client -> target; checks every byte and count. */
async function transfer(engine: NativeRelayEngine, count: number, size: number): Promise<void> {
  const data = pattern(size, 7);
  const digest = sha256(data);
  const targetResults: Array<Promise<{ bytes: number; sha256: string }>> = [];
  const target = await listen((socket) => {
    targetResults.push(drain(socket));
    socket.end();
  });
  const front = await startFront(engine, target.port);
  const clients = await Promise.all(Array.from({ length: count }, () => connectTo(front.port)));
  await Promise.all(clients.map((c) => { c.resume(); return sendAll(c, data); }));
  await front.closedCount(count);
  const results = await Promise.all(targetResults);
  for (const r of results) assert.deepEqual([r.bytes, r.sha256], [size, digest]);
  for (const { result } of front.closed) assert.deepEqual([result.bytesIn, result.reason], [size, 'done']);
  for (const c of clients) c.destroy();
  await Promise.all([front.server.close(), target.close()]);
}

describe('native relay: pipe pool', { skip: skipNative, timeout: 120_000 }, () => {
  it('reuses pooled pipes across relays and holds none once relays are idle or gone', async () => {
    const engine = newEngine();
    for (let i = 0; i < 5; i++) await transfer(engine, 2, 4 << 20);
    const stats = engine.nativeStats();
    assert.ok(stats.pipesReused > stats.pipesCreated, `reused ${stats.pipesReused} vs created ${stats.pipesCreated}`);
    assert.ok(stats.pipesCreated <= 8, `created ${stats.pipesCreated} pipes for 2 concurrent relays`);
    assert.equal(stats.pipesInUse, 0);
    assert.equal(stats.pipeTargetSize, 1 << 20);
    // Idle live relays hold no pipe.
    const target = await listen((s) => s.pipe(s));
    const front = await startFront(engine, target.port);
    const idle = await Promise.all(Array.from({ length: 20 }, () => connectTo(front.port)));
    await Promise.all(idle.map((c) => new Promise((resolve) => { c.once('data', resolve); c.write('x'); })));
    assert.equal(engine.nativeStats().liveRelays, 20);
    assert.equal(engine.nativeStats().pipesInUse, 0, 'idle relays hold no pipes');
    await engine.shutdown();
    for (const c of idle) c.destroy();
    await Promise.all([front.server.close(), target.close()]);
  });

  it('falls back to smaller pipes when the budget is short, and every byte still arrives', async () => {
    // Room for one 1 MiB pipe: the others must shrink.
    const engine = newEngine({ pipeSize: 1 << 20, pipeBudget: (1 << 20) + (256 << 10) });
    await transfer(engine, 6, 8 << 20);
    const stats = engine.nativeStats();
    assert.ok(stats.pipesReduced > 0, `expected smaller pipes, got ${JSON.stringify(stats)}`);
    assert.ok(stats.pipeBytesOpen <= stats.pipeBudget);
    await engine.shutdown();
  });

  it('copies through a buffer when no pipe is available at all, never failing a connection', async () => {
    const engine = newEngine({ maxPipes: 1, maxPooledPipes: 0 });
    await transfer(engine, 4, 6 << 20);
    const stats = engine.nativeStats();
    assert.ok(stats.pipesUnavailable > 0, `expected directions without a pipe, got ${JSON.stringify(stats)}`);
    assert.equal(stats.pipesOpen, 0, 'nothing pooled with maxPooledPipes 0');
    await engine.shutdown();
  });

  it('reads TIDEGATE_PIPE_SIZE (the perf-gate hook), _RELAY_THREADS, _NATIVE_ACCEPT; ignores nonsense', async () => {
    assert.deepEqual(nativeOptionsFromEnv({ TIDEGATE_PIPE_SIZE: '65536' }), { pipeSize: 65536 });
    assert.deepEqual(nativeOptionsFromEnv({ TIDEGATE_PIPE_SIZE: 'big' }), {});
    assert.deepEqual(nativeOptionsFromEnv({ TIDEGATE_PIPE_SIZE: '12' }), {});
    assert.deepEqual(nativeOptionsFromEnv({ TIDEGATE_RELAY_THREADS: '2' }), { threads: 2 });
    // Accepting in the addon is the default (no option); only `0` turns it off.
    assert.deepEqual(nativeOptionsFromEnv({ TIDEGATE_NATIVE_ACCEPT: '0' }), { accept: false });
    assert.deepEqual(nativeOptionsFromEnv({ TIDEGATE_NATIVE_ACCEPT: '1' }), {});
    assert.deepEqual(nativeOptionsFromEnv({ TIDEGATE_NATIVE_ACCEPT: '0', TIDEGATE_RELAY_THREADS: '2' }), {
      accept: false, threads: 2,
    });
    const engine = newEngine(nativeOptionsFromEnv({ TIDEGATE_PIPE_SIZE: '65536' }));
    await transfer(engine, 1, 2 << 20);
    const stats = engine.nativeStats();
    assert.equal(stats.pipeTargetSize, 65536);
    assert.equal(stats.pipeBytesOpen % 65536, 0);
    await engine.shutdown();
  });
});

describe('native relay: several loop threads', { skip: skipNative, timeout: 60_000 }, () => {
  it('spreads relays over the configured threads and keeps every byte', async () => {
    const engine = newEngine({ threads: 2 });
    await transfer(engine, 8, 2 << 20);
    const stats = engine.nativeStats();
    assert.equal(stats.threads, 2);
    assert.equal(stats.epollFds.length, 2);
    assert.notEqual(stats.epollFds[0], stats.epollFds[1]);
    await engine.shutdown();
  });
});
