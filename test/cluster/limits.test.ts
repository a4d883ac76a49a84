import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { MockUpstream } from '../fixtures/llm-upstream.js';
import { HAVE_REDIS, RedisServer } from '../fixtures/redis-server.js';
import { startTidegateProcess, type CliProcess } from '../helpers/cli.js';
import { killFleet, startFleet, totalByWorker, type Fleet } from '../helpers/fleet.js';
import { channel } from '../helpers/gateway.js';
import { getJson, type Json } from '../helpers/http.js';
import { tempDir } from '../helpers/temp.js';
import { eventually } from '../helpers/wait.js';
import { rmSync } from 'node:fs';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Json;
}

/** 1 estimated prompt token + max_tokens 5: each request reserves 6 tokens; the upstream books 1 + 5. */
const ASK = { model: 'gpt-4o', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] };

/** One chat request with `key` on a connection of its own, so node:cluster's round-robin spreads the requests. */
function ask(url: string, key: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(ASK);
    const req = httpRequest(`${url}/v1/chat/completions`, {
      method: 'POST', agent: false,
      headers: {
        'content-type': 'application/json', connection: 'close', 'content-length': Buffer.byteLength(payload),
        authorization: `Bearer ${key}`,
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : null });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Gateway connections each worker served so far (their last reports). */
function perWorker(admin: string): Promise<number[]> {
  return totalByWorker(admin, 'llm');
}

describe('workers: gateway limits and budgets hold across two workers (held by the primary)', () => {
  let up: MockUpstream;
  let fleet: Fleet;
  let admin: string;
  let llm: string;

  before(async () => {
    // Slow enough that a burst is in flight at once on both workers.
    up = await MockUpstream.start({
      dialect: 'openai', name: 'oa', usage: { prompt: 1, completion: 5 }, firstByteDelayMs: 200,
    });
    fleet = await startFleet('tidegate-worker-limits-', {
      store: { sqlite: 'off' },
      pool: { threads: 1 },
      users: [
        { id: 'solo', keys: [{ key: 'k-ci', name: 'ci', limits: { rpm: 10 } }] },
        { id: 'cap', keys: ['k-cap'], quota: { tokens: 30, period: 'daily' } },
        { id: 'kb', keys: [{ key: 'k-kb', name: 'metered', quota: { tokens: 30, period: 'daily' } }] },
        { id: 'free', keys: ['k-free'] },
      ],
      services: [{ name: 'llm', type: 'gateway', listen: '127.0.0.1:0', channels: [channel(up)] }],
    }, ['llm']);
    admin = fleet.admin;
    llm = `http://${fleet.tg.address('llm')}`;
  });

  after(async () => {
    await killFleet(fleet);
    await up.close();
  });

  it('an rpm: 10 key: ten requests over both workers, the 11th (on either) gets 429 with Retry-After', async () => {
    const before = await perWorker(admin);
    const remaining: string[] = [];
    for (let i = 0; i < 10; i++) {
      const a = await ask(llm, 'k-ci');
      assert.equal(a.status, 200, JSON.stringify(a.body));
      remaining.push(String(a.headers['x-ratelimit-remaining-requests']));
    }
    // The headers count the key's requests on both workers: one window.
    assert.deepEqual(remaining, ['9', '8', '7', '6', '5', '4', '3', '2', '1', '0']);
    await eventually(async () => {
      const now = await perWorker(admin);
      return now.reduce((s, n, i) => s + n - before[i]!, 0) === 10;
    }, 10_000, 'the workers report the ten requests');
    const now = await perWorker(admin);
    assert.ok(now.every((n, i) => n - before[i]! > 0), `requests on both: ${now.join()} after ${before.join()}`);
    const served = up.requests.length;
    // Round-robin: two more refusals land one on each worker.
    for (let i = 0; i < 2; i++) {
      const a = await ask(llm, 'k-ci');
      assert.equal(a.status, 429);
      assert.equal(a.body.error.code, 'TG_ERR_RATE_LIMITED');
      assert.ok(Number(a.headers['retry-after']) >= 1, `Retry-After ${a.headers['retry-after']}`);
      assert.equal(a.headers['x-ratelimit-remaining-requests'], '0');
    }
    assert.equal(up.requests.length, served, 'refused before any upstream request');
    // A user without limits is not held by the primary at all.
    assert.equal((await ask(llm, 'k-free')).status, 200);
    const status = (await getJson(admin, '/status')).body;
    assert.ok(status.workers.limits.admissions >= 12);
    assert.ok(status.workers.limits.refusals >= 2);
  });

  it('a user\'s token budget of 30 serves exactly five 6-token requests of a burst over both workers', async () => {
    const answers = await Promise.all(Array.from({ length: 12 }, () => ask(llm, 'k-cap')));
    const ok = answers.filter((a) => a.status === 200).length;
    for (const a of answers) {
      if (a.status === 200) continue;
      assert.equal(a.status, 429);
      assert.equal(a.body.error.type, 'quota_exceeded');
    }
    // One process admits while spent + reserved < 30: five 6-token requests, whichever worker they reached.
    assert.equal(ok, 5, `served ${ok}: ${answers.map((a) => a.status).join()}`);
    await eventually(async () => (await getJson(admin, '/users/cap/usage')).body.spend.spent.tokens === 30,
      10_000, 'the primary books 30 tokens');
    for (let i = 0; i < 2; i++) assert.equal((await ask(llm, 'k-cap')).status, 429);
  });

  it('a key\'s token budget of 30 holds the same way across both workers', async () => {
    const answers = await Promise.all(Array.from({ length: 12 }, () => ask(llm, 'k-kb')));
    const ok = answers.filter((a) => a.status === 200).length;
    assert.equal(ok, 5, `served ${ok}: ${answers.map((a) => a.status).join()}`);
    for (let i = 0; i < 2; i++) {
      const a = await ask(llm, 'k-kb');
      assert.equal(a.status, 429);
      assert.equal(a.body.error.type, 'quota_exceeded');
    }
    assert.equal((await getJson(admin, '/status')).body.workers.limits.held, 0, 'every admission was settled');
  });
});

const noRedis = HAVE_REDIS ? false
  : 'redis-server is not installed (apt-get install -y redis-server): Redis tests skipped';

describe('workers with store.redis: the primary takes the windows in Redis, shared with other instances', {
  skip: noRedis,
}, () => {
  it('a key\'s rpm: 6 holds over a two-worker fleet and a single process on one redis-server', async () => {
    const dir = tempDir('tidegate-worker-redis-');
    const redis = new RedisServer(dir);
    await redis.start();
    const oa = await MockUpstream.start({ dialect: 'openai', name: 'oa', usage: { prompt: 1, completion: 5 } });
    const children: CliProcess[] = [];
    try {
      for (const [name, workers] of [['fleet', 2], ['single', 1]] as const) {
        children.push(await startTidegateProcess(dir, {
          admin: { listen: '127.0.0.1:0' },
          store: { sqlite: 'off', redis: redis.url },
          workers,
          pool: { threads: 1 },
          users: [{ id: 'solo', keys: [{ key: 'k-ci', name: 'ci', limits: { rpm: 6 } }] }],
          services: [{ name: 'llm', type: 'gateway', listen: '127.0.0.1:0', channels: [channel(oa)] }],
        }, ['llm', 'admin'], { file: `${name}.json` }));
      }
      const [fleet, single] = children as [CliProcess, CliProcess];
      const status = async (c: CliProcess): Promise<Json> =>
        (await getJson(c.address('admin'), '/status')).body.accounting.limits;
      await eventually(() => status(fleet), (s: Json) => s.state === 'shared');
      await eventually(() => status(single), (s: Json) => s.state === 'shared');
      const fleetUrl = `http://${fleet.address('llm')}`;
      const singleUrl = `http://${single.address('llm')}`;
      const remaining: string[] = [];
      // Round-robin: four fleet requests are two per worker.
      for (const url of [fleetUrl, fleetUrl, singleUrl, fleetUrl, fleetUrl, singleUrl]) {
        const a = await ask(url, 'k-ci');
        assert.equal(a.status, 200, JSON.stringify(a.body));
        remaining.push(String(a.headers['x-ratelimit-remaining-requests']));
      }
      assert.deepEqual(remaining, ['5', '4', '3', '2', '1', '0']);
      for (const url of [fleetUrl, fleetUrl, singleUrl]) {
        const a = await ask(url, 'k-ci');
        assert.equal(a.status, 429);
        assert.ok(Number(a.headers['retry-after']) >= 1);
      }
    } finally {
      for (const c of children) await c.stop();
      await oa.close();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('workers: a key budget a worker books alone is kept by the primary', () => {
  it('with the primary silent past the 1 s answer time, the spend still reaches its ledger', async () => {
    const dir = tempDir('tidegate-worker-alone-');
    const oa = await MockUpstream.start({ dialect: 'openai', name: 'oa', usage: { prompt: 1, completion: 5 } });
    const config = {
      admin: { listen: '127.0.0.1:0' },
      store: { sqlite: `${dir}/ledger.db` },
      workers: 2,
      pool: { threads: 1 },
      users: [{ id: 'kb', keys: [{ key: 'k-kb', name: 'metered', quota: { tokens: 30, period: 'daily' } }] }],
      services: [{ name: 'llm', type: 'gateway', listen: '127.0.0.1:0', channels: [channel(oa)] }],
    };
    let tg = await startTidegateProcess(dir, config, ['llm', 'admin']);
    try {
      const llm = `http://${tg.address('llm')}`;
      // The primary stops answering: the worker waits 1 s for its admission, then decides alone.
      tg.child.kill('SIGSTOP');
      let alone: Answer;
      try {
        alone = await ask(llm, 'k-kb');
      } finally {
        tg.child.kill('SIGCONT');
      }
      assert.equal(alone.status, 200, JSON.stringify(alone.body));
      // A graceful stop flushes the primary's ledger; a new fleet starts from it.
      await tg.stop();
      tg = await startTidegateProcess(dir, config, ['llm', 'admin']);
      // 6 of the key's 30 tokens were booked alone: four more 6-token requests fit, the fifth does not.
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await ask(`http://${tg.address('llm')}`, 'k-kb')).status);
      assert.deepEqual(statuses, [200, 200, 200, 200, 429]);
    } finally {
      await tg.stop();
      await oa.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
