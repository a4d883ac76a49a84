import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { Redis } from 'ioredis';
import { RedisConnection } from '../../src/accounting/redis-connection.js';
import { RedisCounterStore } from '../../src/accounting/redis-store.js';
import { UserAccount } from '../../src/accounting/subject.js';
import { createLogger } from '../../src/log.js';
import { HAVE_REDIS, RedisServer } from '../fixtures/redis-server.js';
import { sink } from '../fixtures/tcp.js';
import { connectTo, countUntilClose, sendThrough } from '../helpers/sockets.js';
import { tempDir } from '../helpers/temp.js';
import { jsEngine, type Running, startTidegate, testConfig } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

// Redis is a cache of the ledger: a Redis that lost its data (FLUSHALL, a restart without persistence, eviction)
// must never give a user their quota back, nor lower what another instance wrote.

const KiB = 1024;
const KEY = 'tidegate:u:alice:all';
const skip = HAVE_REDIS ? false
  : 'redis-server is not installed (apt-get install -y redis-server): Redis tests skipped';

type Sink = Awaited<ReturnType<typeof sink>>;

function doc(redis: RedisServer, target: Sink, db: string, quota = '1MiB'): Record<string, unknown> {
  return {
    store: { sqlite: db, redis: redis.url, sync: { interval: '1h' } },
    users: [{ id: 'alice', quota: { bytes: quota, direction: 'in' } }],
    services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'alice', targets: [target.address] }],
  };
}

/** A connection that is refused for quota: closed with nothing relayed (one still open after 5 s is not). */
async function refusedConnection(tg: Running, target: Sink): Promise<void> {
  const before = target.received();
  const c = await connectTo(tg.port('fwd'));
  const closed = countUntilClose(c);
  c.write('x');
  const timer = setTimeout(() => c.destroy(), 5_000);
  await closed;
  clearTimeout(timer);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(target.received(), before, 'the connection was refused: nothing reached the target');
}

function used(tg: Running): number {
  return tg.runtime.accounting.usage('alice')!.quota!.used;
}

function redisStatus(tg: Running): { state: string; reseeds: number } {
  return tg.runtime.status().accounting.redis as { state: string; reseeds: number };
}

async function redisIn(client: Redis): Promise<number> {
  return Number((await client.hget(KEY, 'in')) ?? 0);
}

function ledgerIn(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    const row = db.prepare(
      "SELECT bytes_in FROM accounting_usage WHERE kind = 'user' AND subject = 'alice' AND period = 'all'",
    ).get() as
      | { bytes_in: number }
      | undefined;
    return row?.bytes_in ?? 0;
  } finally {
    db.close();
  }
}

/** Reads usage a few times over ~1 s (several Redis ticks): it must never go below `floor`. */
async function neverBelow(tg: Running, floor: number): Promise<void> {
  for (let i = 0; i < 20; i++) {
    assert.ok(used(tg) >= floor, `usage ${used(tg)} fell below what the ledger knows (${floor})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('Redis is a cache of the ledger, never its replacement', { skip }, () => {
  it('FLUSHALL while running: usage and quota stay at the ledger plus pending deltas, '
    + 'and Redis is re-seeded', async () => {
    const dir = tempDir();
    const file = join(dir, 'a.db');
    const redis = new RedisServer(dir);
    await redis.start();
    const target = await sink();
    const tg = await startTidegate(doc(redis, target, file), { engine: jsEngine });
    const client = redis.client();
    try {
      // 600 KiB in the ledger, 424 KiB more pending (the sync interval is an hour): the quota is used up.
      await sendThrough(tg.port('fwd'), 600 * KiB);
      assert.equal(await tg.runtime.accounting.flush(), true);
      assert.equal(ledgerIn(file), 600 * KiB);
      await sendThrough(tg.port('fwd'), 424 * KiB);
      assert.equal(await eventually(() => redisIn(client), (n) => n === 1024 * KiB), 1024 * KiB);
      assert.equal(tg.runtime.accounting.check('alice')?.reason, 'quota_exceeded');

      await client.flushall();
      await neverBelow(tg, 1024 * KiB);
      assert.equal(await eventually(() => redisIn(client), (n) => n === 1024 * KiB), 1024 * KiB, 'Redis re-seeded');
      assert.ok(redisStatus(tg).reseeds >= 1);
      assert.equal(used(tg), 1024 * KiB);
      assert.equal(tg.runtime.accounting.check('alice')?.reason, 'quota_exceeded');
      await refusedConnection(tg, target);
      assert.equal(target.received(), 1024 * KiB);
    } finally {
      client.disconnect();
      await tg.stop();
      await target.close();
      await redis.kill();
    }
  });

  it('redis-server restarted empty on the same port: '
    + 'deltas counted while it was down land on top of the ledger', async () => {
    const dir = tempDir();
    const redis = new RedisServer(dir);
    await redis.start();
    const target = await sink();
    const tg = await startTidegate(doc(redis, target, join(dir, 'a.db'), '512KiB'), { engine: jsEngine });
    try {
      await sendThrough(tg.port('fwd'), 300 * KiB);
      let client = redis.client();
      await eventually(() => redisIn(client), (n) => n === 300 * KiB);
      client.disconnect();
      // Redis answered every delta (and the ledger has the 300 KiB). Killed before its answer reached tidegate, the
      // 300 KiB would count as unsent and go out again with the 212 KiB (no floor needed, no re-seed to count).
      assert.equal(await tg.runtime.accounting.flush(), true);

      await redis.kill(); // no save: it comes back empty
      await eventually(() => redisStatus(tg).state, (s) => s === 'down');
      await sendThrough(tg.port('fwd'), 212 * KiB);
      assert.equal(used(tg), 512 * KiB);

      await redis.start();
      assert.equal(await eventually(() => redisStatus(tg).state, (s) => s === 'connected'), 'connected');
      client = redis.client();
      // Redis gets the whole 512 KiB (re-seeded 300 KiB, then the 212 KiB delta), not only what came while it was down.
      assert.equal(await eventually(() => redisIn(client), (n) => n === 512 * KiB), 512 * KiB);
      client.disconnect();
      await neverBelow(tg, 512 * KiB);
      assert.ok(redisStatus(tg).reseeds >= 1);
      assert.equal(tg.runtime.accounting.check('alice')?.reason, 'quota_exceeded');
      await refusedConnection(tg, target);
    } finally {
      await tg.stop();
      await target.close();
      await redis.kill();
    }
  });

  it('an idle user\'s key lost while connected is re-read and re-seeded after a reconnect', async () => {
    const dir = tempDir();
    const redis = new RedisServer(dir);
    await redis.start();
    const target = await sink();
    const tg = await startTidegate(doc(redis, target, join(dir, 'a.db')), { engine: jsEngine });
    try {
      await sendThrough(tg.port('fwd'), 100 * KiB);
      let client = redis.client();
      await eventually(() => redisIn(client), (n) => n === 100 * KiB);
      client.disconnect();
      await redis.kill();
      await eventually(() => redisStatus(tg).state, (s) => s === 'down');
      await redis.start();
      client = redis.client();
      assert.equal(await eventually(() => redisIn(client), (n) => n === 100 * KiB), 100 * KiB);
      client.disconnect();
      assert.equal(used(tg), 100 * KiB);
    } finally {
      await tg.stop();
      await target.close();
      await redis.kill();
    }
  });

  it('tidegate restarted while Redis is empty: usage comes from the ledger '
    + 'and Redis is seeded before services accept', async () => {
    const dir = tempDir();
    const file = join(dir, 'a.db');
    const redis = new RedisServer(dir);
    await redis.start();
    const target = await sink();
    const client = redis.client();
    let tg = await startTidegate(doc(redis, target, file), { engine: jsEngine });
    try {
      await sendThrough(tg.port('fwd'), 1024 * KiB);
      await tg.stop(); // flushes the ledger
      assert.equal(ledgerIn(file), 1024 * KiB);
      await client.flushall();

      tg = await startTidegate(doc(redis, target, file), { engine: jsEngine });
      assert.equal(used(tg), 1024 * KiB);
      assert.equal(await redisIn(client), 1024 * KiB, 'seeded at start');
      assert.equal(redisStatus(tg).reseeds, 1);
      assert.equal(tg.runtime.accounting.check('alice')?.reason, 'quota_exceeded');
      await refusedConnection(tg, target);
      await neverBelow(tg, 1024 * KiB);
    } finally {
      client.disconnect();
      await tg.stop();
      await target.close();
      await redis.kill();
    }
  });

  it('two nodes with their own ledgers never lower each other\'s totals', async () => {
    const dir = tempDir();
    const redis = new RedisServer(dir);
    await redis.start();
    const target = await sink();
    const client = redis.client();
    const [fileA, fileB] = [join(dir, 'a.db'), join(dir, 'b.db')];
    let a = await startTidegate(doc(redis, target, fileA, '10MiB'), { engine: jsEngine });
    let b = await startTidegate(doc(redis, target, fileB, '10MiB'), { engine: jsEngine });
    try {
      await sendThrough(a.port('fwd'), 300 * KiB);
      await sendThrough(b.port('fwd'), 200 * KiB);
      await eventually(() => used(a), (n) => n === 500 * KiB);
      await eventually(() => used(b), (n) => n === 500 * KiB);

      // Each node knows the shared 500 KiB, though its own ledger holds only its part: the seed is the shared total.
      await client.flushall();
      assert.equal(await eventually(() => redisIn(client), (n) => n === 500 * KiB), 500 * KiB);
      await neverBelow(a, 500 * KiB);
      assert.equal(used(b), 500 * KiB);
      await sendThrough(b.port('fwd'), 150 * KiB);
      assert.equal(await eventually(() => used(a), (n) => n === 650 * KiB), 650 * KiB);
      assert.equal(await redisIn(client), 650 * KiB);

      // A higher total written by some other node is taken, never lowered by either seed.
      await client.hset(KEY, 'in', 900 * KiB);
      assert.equal(await eventually(() => used(a), (n) => n === 900 * KiB), 900 * KiB);
      assert.equal(await eventually(() => used(b), (n) => n === 900 * KiB), 900 * KiB);
      await neverBelow(a, 900 * KiB);
      assert.equal(await redisIn(client), 900 * KiB);

      // Both restart while Redis is empty: each seeds its own ledger, and the second does not lower the first's seed.
      await a.stop();
      await b.stop();
      assert.equal(ledgerIn(fileA), 300 * KiB);
      assert.equal(ledgerIn(fileB), 350 * KiB);
      await client.flushall();
      b = await startTidegate(doc(redis, target, fileB, '10MiB'), { engine: jsEngine });
      assert.equal(await redisIn(client), 350 * KiB);
      a = await startTidegate(doc(redis, target, fileA, '10MiB'), { engine: jsEngine });
      assert.equal(await redisIn(client), 350 * KiB, 'A\'s smaller ledger did not lower B\'s seed');
      assert.equal(used(a), 350 * KiB);
      assert.equal(used(b), 350 * KiB);
    } finally {
      client.disconnect();
      await a.stop();
      await b.stop();
      await target.close();
      await redis.kill();
    }
  });

  it('a delta sent to an emptied Redis re-seeds the key before it adds (the script itself, no poll)', async () => {
    const redis = new RedisServer(tempDir());
    await redis.start();
    const connection = new RedisConnection(redis.url);
    const store = new RedisCounterStore(connection, createLogger('silent'));
    const client = redis.client();
    try {
      await store.connect();
      const config = testConfig({ users: [{ id: 'alice', quota: { bytes: '1MiB' } }], services: [] });
      const user = new UserAccount(config.users[0]!, Date.now());
      function count(bytesIn: number): void {
        user.record(user.usedPeriod, bytesIn, 0, 0, 0, 0);
        user.usedIn += bytesIn;
        store.markDirty(user);
      }
      // No setUsers(): nothing is polled, only deltas go out.
      count(1000);
      await store.sync();
      assert.equal(await redisIn(client), 1000);

      await client.flushall();
      count(10);
      await store.sync();
      assert.equal(await redisIn(client), 1010, 'not only the delta');
      assert.equal(user.usedIn, 1010);
      assert.equal(store.status().reseeds, 1);

      // Another node wrote more: the floor does not lower it, the delta adds to it, and usage takes it.
      await client.hset(KEY, 'in', 5000);
      count(10);
      await store.sync();
      assert.equal(await redisIn(client), 5010);
      assert.equal(user.usedIn, 5010);
      assert.equal(store.status().reseeds, 1);
    } finally {
      client.disconnect();
      await store.close();
      connection.close();
      await redis.kill();
    }
  });
});
