import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { HAVE_REDIS, RedisServer } from '../fixtures/redis-server.js';
import { ReplyDroppingProxy } from '../fixtures/reply-dropping-proxy.js';
import { sink } from '../fixtures/tcp.js';
import { sendThrough } from '../helpers/sockets.js';
import { tempDir } from '../helpers/temp.js';
import { jsEngine, type Running, startTidegate } from '../helpers/tidegate.js';
import { eventually, sleep } from '../helpers/wait.js';

// A connection reset after Redis ran a delta's script but before its reply arrived: Redis keeps the delta, tidegate
// sends it again, and Redis must not count it twice.

const KiB = 1024;
const skip = HAVE_REDIS ? false
  : 'redis-server is not installed (apt-get install -y redis-server): Redis tests skipped';

/** The check-and-add script's reply: an array of 13 (in, out, over, seeded, applied and eight spend fields). */
function scriptReply(chunk: Buffer): boolean {
  return chunk.includes('*13\r\n');
}

interface Status {
  state: string;
  outages: number;
  pendingSubjects: number;
  reseeds: number;
}

function redisStatus(tg: Running): Status {
  return tg.runtime.status().accounting.redis as Status;
}

function doc(url: string, dir: string, target: Awaited<ReturnType<typeof sink>>): Record<string, unknown> {
  return {
    store: { sqlite: join(dir, 'a.db'), redis: url, sync: { interval: '1h' } },
    users: [{ id: 'alice', quota: { bytes: '1MiB', direction: 'in' } }],
    services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'alice', targets: [target.address] }],
  };
}

async function hashIn(client: Redis, key: string): Promise<number> {
  return Number((await client.hget(key, 'in')) ?? 0);
}

/** A real redis-server behind the reply-dropping proxy, a sink target, and tidegate (JS engine) using the proxy. */
interface Rig {
  readonly redis: RedisServer;
  readonly proxy: ReplyDroppingProxy;
  readonly target: Awaited<ReturnType<typeof sink>>;
  readonly tg: Running;
  /** A client straight to Redis (not through the proxy); replaced after a restart. */
  client: Redis;
}

async function startRig(): Promise<Rig> {
  const dir = tempDir();
  const redis = new RedisServer(dir);
  await redis.start();
  const proxy = new ReplyDroppingProxy(redis.port, scriptReply);
  await proxy.start();
  const target = await sink();
  const tg = await startTidegate(doc(proxy.url, dir, target), { engine: jsEngine });
  return { redis, proxy, target, tg, client: redis.client() };
}

async function stopRig(rig: Rig): Promise<void> {
  rig.client.disconnect();
  await rig.tg.stop();
  await rig.target.close();
  await rig.proxy.close();
  await rig.redis.kill();
}

describe('Redis deltas are idempotent', { skip }, () => {
  it('a script reply lost with the connection: the resend is skipped, 300 KiB count once', async () => {
    const rig = await startRig();
    const { proxy, tg, client } = rig;
    try {
      proxy.arm();
      await sendThrough(tg.port('fwd'), 300 * KiB);
      await eventually(() => proxy.drops === 1, 10_000, 'the proxy dropped the connection with a script reply');
      assert.ok(proxy.withheld[0]!.includes('*13\r\n'), 'Redis ran the script whose reply was withheld');
      await eventually(() => redisStatus(tg).outages >= 1, 10_000, 'tidegate saw the connection go');
      assert.equal(await eventually(() => redisStatus(tg).state, (s) => s === 'connected'), 'connected');
      await eventually(() => redisStatus(tg).pendingSubjects === 0, 10_000, 'every delta confirmed');
      await tg.runtime.accounting.flush();
      // Several ticks: nothing is sent a second time.
      await sleep(500);
      assert.equal(await hashIn(client, 'tidegate:u:alice:all'), 300 * KiB);
      assert.equal(await hashIn(client, 'tidegate:s:fwd:all'), 300 * KiB);
      assert.equal(tg.runtime.accounting.usage('alice')!.quota!.used, 300 * KiB);
      assert.equal(proxy.drops, 1);
      const seqKeys = await client.keys('tidegate:seq:*');
      assert.equal(seqKeys.length, 1, 'one sequence record: this instance\'s');
      assert.ok((await client.ttl(seqKeys[0]!)) > 0, 'it expires');
    } finally {
      await stopRig(rig);
    }
  });

  it('a script reply lost, then Redis restarted empty: the resend lands with its floor (re-seeded)', async () => {
    const rig = await startRig();
    const { redis, proxy, tg } = rig;
    let killed: Promise<void> | null = null;
    try {
      await sendThrough(tg.port('fwd'), 100 * KiB);
      await eventually(() => hashIn(rig.client, 'tidegate:u:alice:all'), (n) => n === 100 * KiB);
      // Redis answered the 100 KiB (a status without pending subjects may still have its reply on the way).
      assert.equal(await tg.runtime.accounting.flush(), true);
      rig.client.disconnect();
      // The next delta's reply is lost and Redis dies before tidegate reconnects: it comes back empty.
      proxy.onDrop = () => {
        killed = redis.kill();
      };
      proxy.arm();
      await sendThrough(tg.port('fwd'), 200 * KiB);
      await eventually(() => killed !== null, 10_000, 'the proxy dropped the connection with a script reply');
      await (killed as Promise<void> | null); // assigned in onDrop: the compiler still narrows it to null here
      await redis.start();
      assert.equal(await eventually(() => redisStatus(tg).state, (s) => s === 'connected'), 'connected');
      rig.client = redis.client();
      // The resent 200 KiB carries its floor (the 100 KiB before it): Redis gets 300 KiB back, not 200.
      const landed = await eventually(() => hashIn(rig.client, 'tidegate:u:alice:all'), (n) => n === 300 * KiB);
      assert.equal(landed, 300 * KiB);
      await eventually(() => redisStatus(tg).pendingSubjects === 0, 10_000, 'every delta confirmed');
      await sleep(500);
      assert.equal(await hashIn(rig.client, 'tidegate:u:alice:all'), 300 * KiB);
      assert.equal(tg.runtime.accounting.usage('alice')!.quota!.used, 300 * KiB);
      assert.ok(redisStatus(tg).reseeds >= 1);
    } finally {
      await stopRig(rig);
    }
  });
});
