import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { HAVE_REDIS, RedisServer } from '../fixtures/redis-server.js';
import { tempDir } from '../helpers/temp.js';
import { jsEngine, type Running, startTidegate } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

const skip = HAVE_REDIS ? false
  : 'redis-server is not installed (apt-get install -y redis-server): Redis tests skipped';

/** Clients connected to the server, the asking one included. */
async function clients(client: Redis): Promise<number> {
  const info = await client.info('clients');
  return Number(/connected_clients:(\d+)/.exec(info)![1]);
}

function states(tg: Running): { redis: string; limits: string } {
  const accounting = tg.runtime.status().accounting;
  return {
    redis: (accounting.redis as { state: string }).state,
    limits: (accounting.limits as { state?: string }).state ?? 'none',
  };
}

describe('one Redis connection per process', { skip }, () => {
  it('counters and gateway limits share one connection, through a Redis restart too', async () => {
    const redis = new RedisServer(tempDir());
    await redis.start();
    let tg: Running | null = null;
    try {
      tg = await startTidegate({
        store: { sqlite: 'off', redis: redis.url },
        users: [{ id: 'alice', keys: ['k-alice'], quota: { bytes: '1MiB' }, limits: { rpm: 5 } }],
        services: [{
          name: 'llm', type: 'gateway', listen: '127.0.0.1:0',
          channels: [{ name: 'oa', kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', keys: ['k'] }],
        }],
      }, { engine: jsEngine });
      const running = tg;
      assert.deepEqual(states(running), { redis: 'connected', limits: 'shared' });
      let client = redis.client();
      assert.equal(await clients(client), 2, 'tidegate holds one connection (the other is this test\'s)');
      client.disconnect();

      // Redis goes away: both stores say so; it comes back on the same port: both reconnect on the one connection.
      await redis.stop();
      await eventually(() => states(running), (s) => s.redis === 'down' && s.limits === 'local');
      await redis.start();
      await eventually(() => states(running), (s) => s.redis === 'connected' && s.limits === 'shared');
      client = redis.client();
      assert.equal(await clients(client), 2, 'still one connection after the reconnect');
      client.disconnect();
    } finally {
      await tg?.stop();
      await redis.kill();
    }
  });
});
