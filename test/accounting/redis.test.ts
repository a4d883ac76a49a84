import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { HAVE_REDIS, RedisServer } from '../fixtures/redis-server.js';
import { sink } from '../fixtures/tcp.js';
import { type CliProcess, startConfigFile } from '../helpers/cli.js';
import { getJson } from '../helpers/http.js';
import { connectTo, countUntilClose, sendBytes, sendThrough } from '../helpers/sockets.js';
import { tempDir } from '../helpers/temp.js';
import { jsEngine, startTidegate } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

const KiB = 1024;
const skip = HAVE_REDIS ? false
  : 'redis-server is not installed (apt-get install -y redis-server): Redis tests skipped';

async function used(child: CliProcess): Promise<number> {
  return (await getJson(child.address('admin'), '/users/alice/usage')).body.quota.used as number;
}

describe('shared counters in Redis', { skip }, () => {
  it('two tidegate processes share one quota through a real redis-server', async () => {
    const dir = tempDir();
    const redis = new RedisServer(dir);
    await redis.start();
    const target = await sink();
    const children: CliProcess[] = [];
    try {
      for (const name of ['a', 'b']) {
        const file = join(dir, `${name}.json`);
        writeFileSync(file, JSON.stringify({
          admin: { listen: '127.0.0.1:0' },
          log: { level: 'info' },
          store: { sqlite: join(dir, `${name}.db`), redis: redis.url, sync: { interval: '1h' } },
          users: [{ id: 'alice', quota: { bytes: '1MiB', direction: 'in' }, rate: { in: '512KiB/s' } }],
          services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'alice', targets: [target.address] }],
        }));
        children.push(await startConfigFile(file, ['admin']));
      }
      const [a, b] = children as [CliProcess, CliProcess];
      assert.equal((await getJson(a.address('admin'), '/status')).body.accounting.redis.state, 'connected');

      // 700 KiB through A.
      const first = await connectTo(a.port('fwd'));
      const firstDone = countUntilClose(first);
      await sendBytes(first, 700 * KiB);
      first.end();
      await firstDone;
      await eventually(() => target.received(), (n) => n === 700 * KiB);
      // B sees A's usage in near real time.
      assert.equal(await eventually(() => used(b), (n) => n === 700 * KiB), 700 * KiB);

      // B relays until the shared quota runs out, then cuts its connection.
      const second = await connectTo(b.port('fwd'));
      const cut = countUntilClose(second);
      const chunk = Buffer.alloc(16 * KiB, 2);
      let open = true;
      void cut.then(() => (open = false));
      function pump(this: Socket | void): void {
        while (open && !second.destroyed && second.write(chunk));
      }
      second.on('drain', pump);
      pump();
      await cut;
      assert.ok(target.received() >= 1024 * KiB, `the quota was used up (${target.received()})`);
      assert.ok(
        target.received() <= 1024 * KiB + 2 * 512 * KiB,
        `and not overrun by more than a second of traffic (${target.received()})`,
      );

      // A now refuses alice: its view of the shared quota includes what B relayed.
      await eventually(() => used(a), (n) => n >= 1024 * KiB);
      const refused = await connectTo(a.port('fwd'));
      refused.write('x');
      assert.equal(await countUntilClose(refused), 0);
      const usageA = (await getJson(a.address('admin'), '/users/alice/usage')).body;
      assert.equal(usageA.live.refused, 1);
      assert.equal(usageA.quota.refusal, 'quota_exceeded');
      // Both instances and Redis agree on the total, which is what the target received.
      const total = target.received();
      assert.equal(await eventually(() => used(a), (n) => n === total), total);
      assert.equal(await eventually(() => used(b), (n) => n === total), total);
      const client = redis.client();
      assert.equal(Number(await client.hget('tidegate:u:alice:all', 'in')), total);
      client.disconnect();
    } finally {
      for (const child of children) {
        child.child.kill('SIGTERM');
        await child.exited;
      }
      await target.close();
      await redis.kill();
    }
  });

  it('keeps counting while Redis is down, reports it, and converges when Redis returns', async () => {
    const dir = tempDir();
    const redis = new RedisServer(dir);
    await redis.start();
    const target = await sink();
    const tg = await startTidegate({
      store: { sqlite: 'off', redis: redis.url },
      users: [{ id: 'alice', quota: { bytes: '100MiB' } }],
      services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'alice', targets: [target.address] }],
    }, { engine: jsEngine });
    const client = () => redis.client();
    try {
      await sendThrough(tg.port('fwd'), 100 * KiB);
      let c = client();
      assert.equal(await eventually(
        async () => Number(await c.hget('tidegate:u:alice:all', 'in')), (n) => n === 100 * KiB,
      ), 100 * KiB);
      c.disconnect();

      await redis.stop();
      const down = await eventually(() => tg.runtime.status().accounting.redis, (r) => r.state === 'down');
      assert.equal(down.state, 'down');
      // Still serving and counting.
      await sendThrough(tg.port('fwd'), 50 * KiB);
      await sendThrough(tg.port('fwd'), 25 * KiB);
      await eventually(() => target.received(), (n) => n === 175 * KiB);
      assert.equal(tg.runtime.accounting.usage('alice')!.quota!.used, 175 * KiB);
      assert.equal(tg.runtime.accounting.check('alice'), null);

      await redis.start();
      const up = await eventually(() => tg.runtime.status().accounting.redis, (r) => r.state === 'connected');
      assert.equal(up.state, 'connected');
      assert.equal((up as { outages: number }).outages, 1);
      c = client();
      const converged = await eventually(
        async () => Number(await c.hget('tidegate:u:alice:all', 'in')), (n) => n === 175 * KiB,
      );
      assert.equal(converged, 175 * KiB);
      assert.equal(Number(await c.hget('tidegate:s:fwd:all', 'in')), 175 * KiB);
      assert.equal(Number(await c.hget('tidegate:u:alice:all', 'connections')), 3);
      c.disconnect();
    } finally {
      await tg.stop();
      await target.close();
      await redis.kill();
    }
  });

  it('starts while Redis is down, serves, and sends what it counted once Redis comes up', async () => {
    const redis = new RedisServer(tempDir());
    await redis.start();
    await redis.kill();
    const tg = await startTidegate({
      store: { redis: redis.url }, users: [{ id: 'alice', quota: { bytes: '1MiB' } }], services: [],
    }, { engine: jsEngine });
    try {
      const status = tg.runtime.status().accounting.redis as { state: string; lastError: string | null };
      assert.equal(status.state, 'down');
      assert.match(status.lastError ?? '', /ECONNREFUSED/);
      tg.runtime.accounting.addRequest('alice', 'llm', 5);
      assert.equal(tg.runtime.accounting.check('alice'), null);
      await redis.start();
      await eventually(() => tg.runtime.status().accounting.redis.state, (s) => s === 'connected');
      const c = redis.client();
      const hash = await eventually(() => c.hgetall('tidegate:u:alice:all'), (h) => h.tokens === '5');
      assert.equal(hash.tokens, '5');
      assert.equal(hash.requests, '1');
      c.disconnect();
    } finally {
      await tg.stop();
      await redis.kill();
    }
  });
});
