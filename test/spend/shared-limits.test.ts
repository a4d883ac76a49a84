import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import OpenAI from 'openai';
import { MockUpstream } from '../fixtures/llm-upstream.js';
import { HAVE_REDIS, RedisServer } from '../fixtures/redis-server.js';
import { type CliProcess, startTidegateProcess } from '../helpers/cli.js';
import { getJson } from '../helpers/http.js';
import { tempDir } from '../helpers/temp.js';
import { eventually } from '../helpers/wait.js';

const skip = HAVE_REDIS ? false
  : 'redis-server is not installed (apt-get install -y redis-server): Redis tests skipped';
const ask = { model: 'gpt-4o', max_tokens: 5, messages: [{ role: 'user' as const, content: 'hi' }] };

async function served(client: OpenAI): Promise<'ok' | 'limited'> {
  try {
    await client.chat.completions.create(ask);
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof OpenAI.RateLimitError, String(err));
    assert.equal(err.code, 'TG_ERR_RATE_LIMITED');
    assert.ok(Number(err.headers?.get('retry-after')) >= 1);
    return 'limited';
  }
}

describe('spend: limits shared by two tidegate processes through a real redis-server', { skip }, () => {
  it('a user\'s and a key\'s rpm and a token budget hold across both; Redis down: local, said in /status', async () => {
    const dir = tempDir();
    const redis = new RedisServer(dir);
    await redis.start();
    const up = await MockUpstream.start({ dialect: 'openai', name: 'oa', usage: { prompt: 2, completion: 3 } });
    const children: CliProcess[] = [];
    try {
      for (const name of ['a', 'b']) {
        children.push(await startTidegateProcess(dir, {
          admin: { listen: '127.0.0.1:0' },
          store: { sqlite: 'off', redis: redis.url },
          pool: { threads: 1 },
          users: [
            { id: 'team', keys: ['k-team'], limits: { rpm: 6 } },
            { id: 'solo', keys: [{ key: 'k-ci', name: 'ci', limits: { rpm: 4 } }] },
            { id: 'cap', keys: ['k-cap'], quota: { tokens: 20, period: 'daily' } },
          ],
          services: [{
            name: 'llm', type: 'gateway', listen: '127.0.0.1:0',
            channels: [{ name: 'oa', kind: 'openai', baseUrl: up.baseUrl, keys: ['k'] }],
          }],
        }, ['llm', 'admin'], { file: `${name}.json` }));
      }
      const [a, b] = children as [CliProcess, CliProcess];
      const status = async (c: CliProcess): Promise<Record<string, unknown>> =>
        (await getJson(c.address('admin'), '/status')).body.accounting.limits as Record<string, unknown>;
      await eventually(() => status(a), (s) => s.state === 'shared');
      await eventually(() => status(b), (s) => s.state === 'shared');
      const client = (c: CliProcess, key: string): OpenAI =>
        new OpenAI({ apiKey: key, baseURL: `http://${c.address('llm')}/v1`, maxRetries: 0 });

      // The user's rpm: 6, three requests through each process, then the 7th is refused by either.
      const teamA = client(a, 'k-team');
      const teamB = client(b, 'k-team');
      for (let i = 0; i < 3; i++) {
        assert.equal(await served(teamA), 'ok');
        assert.equal(await served(teamB), 'ok');
      }
      const before = up.requests.length;
      assert.equal(await served(teamA), 'limited');
      assert.equal(await served(teamB), 'limited');
      assert.equal(up.requests.length, before, 'refused before any upstream request');

      // The key's rpm: 4 across both processes, and the served answers' headers count both.
      const ciA = client(a, 'k-ci');
      const ciB = client(b, 'k-ci');
      const remaining: string[] = [];
      for (let i = 0; i < 2; i++) {
        for (const c of [ciA, ciB]) {
          const { response } = await c.chat.completions.create(ask).withResponse();
          remaining.push(response.headers.get('x-ratelimit-remaining-requests')!);
        }
      }
      assert.deepEqual(remaining, ['3', '2', '1', '0']);
      assert.equal(await served(ciB), 'limited');
      assert.equal(await served(ciA), 'limited');

      // A token budget of 20 (5 tokens an answer): two answers through each process; A sees B's through Redis.
      const capA = client(a, 'k-cap');
      const capB = client(b, 'k-cap');
      for (let i = 0; i < 2; i++) {
        await capA.chat.completions.create(ask);
        await capB.chat.completions.create(ask);
      }
      const spent = async (c: CliProcess): Promise<number> =>
        ((await getJson(c.address('admin'), '/users/cap/usage')).body.spend as { spent: { tokens: number } })
          .spent.tokens;
      await eventually(() => spent(a), (n) => n === 20);
      await assert.rejects(capA.chat.completions.create(ask), (err: unknown) => {
        assert.ok(err instanceof OpenAI.RateLimitError, String(err));
        assert.equal((err.error as { type?: string }).type, 'quota_exceeded');
        return true;
      });

      // Redis goes away: requests are still limited, each process on its own, and /status says so.
      await redis.stop();
      await eventually(() => status(a), (s) => s.state === 'local');
      const local = await status(a);
      assert.equal(local.store, 'redis');
      assert.equal(await served(teamA), 'limited', 'the local fallback starts from the shared windows it saw');
    } finally {
      for (const c of children) await c.stop();
      await up.close();
      await redis.stop();
    }
  });
});
