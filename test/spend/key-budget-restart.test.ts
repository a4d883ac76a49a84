import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { MockUpstream } from '../fixtures/llm-upstream.js';
import { HAVE_REDIS, RedisServer } from '../fixtures/redis-server.js';
import { type CliProcess, startTidegateProcess } from '../helpers/cli.js';
import { getJson } from '../helpers/http.js';
import { tempDir } from '../helpers/temp.js';
import { eventually } from '../helpers/wait.js';

const ask = { model: 'gpt-4o', max_tokens: 5, messages: [{ role: 'user' as const, content: 'hi' }] };

/** A key with a budget of 3 requests a day; its tokens (2 + 3 an answer) go to a second budget of 100. */
function config(up: MockUpstream, store: Record<string, unknown>, workers = 1): Record<string, unknown> {
  return {
    admin: { listen: '127.0.0.1:0' },
    workers,
    pool: { threads: 1 },
    log: { level: 'info' },
    store,
    shutdownGrace: '5s',
    users: [{
      id: 'team',
      keys: [{ key: 'k-batch', name: 'batch', quota: { requests: 3, tokens: 100, period: 'daily' } }],
    }],
    services: [{
      name: 'llm', type: 'gateway', listen: '127.0.0.1:0',
      channels: [{ name: 'oa', kind: 'openai', baseUrl: up.baseUrl, keys: ['k'] }],
    }],
  };
}

function client(tg: CliProcess): OpenAI {
  return new OpenAI({ apiKey: 'k-batch', baseURL: `http://${tg.address('llm')}/v1`, maxRetries: 0 });
}

/** The key's budgets as `GET /users/team/usage` shows them: [budget, used] pairs. */
async function keyBudgets(tg: CliProcess): Promise<[string, number][]> {
  const body = (await getJson(tg.address('admin'), '/users/team/usage')).body as Record<string, unknown>;
  const limits = body.limits as Record<string, { keys: Record<string, { budget: { budgets: unknown[] } }> }>;
  const budgets = limits.llm!.keys.batch!.budget.budgets as { budget: string; used: number }[];
  return budgets.map((b) => [b.budget, b.used]);
}

/** Starts tidegate on `store`, lets the key spend `requests` requests, then runs `stop` on the process. */
async function spendThen(
  dir: string, up: MockUpstream, store: Record<string, unknown>, requests: number,
  stop: (tg: CliProcess) => Promise<void>, workers = 1,
): Promise<void> {
  const tg = await startTidegateProcess(dir, config(up, store, workers), ['llm', 'admin']);
  try {
    for (let i = 0; i < requests; i++) await client(tg).chat.completions.create(ask);
  } finally {
    await stop(tg);
  }
}

/** SIGTERM, and a clean exit (the shutdown flush is what these tests read back). */
async function terminate(tg: CliProcess): Promise<void> {
  tg.child.kill('SIGTERM');
  assert.equal(await tg.exited, 0);
}

/** Starts tidegate again on the same store and runs `check` against it. */
async function restarted(
  dir: string, up: MockUpstream, store: Record<string, unknown>, check: (tg: CliProcess) => Promise<void>,
  workers = 1,
): Promise<void> {
  const tg = await startTidegateProcess(dir, config(up, store, workers), ['llm', 'admin']);
  try {
    await check(tg);
  } finally {
    await tg.stop();
  }
}

async function refusedForBudget(c: OpenAI): Promise<void> {
  await assert.rejects(c.chat.completions.create(ask), (err: unknown) => {
    assert.ok(err instanceof OpenAI.RateLimitError, String(err));
    assert.equal((err.error as { type?: string }).type, 'quota_exceeded');
    assert.match(err.message, /key "batch" has used its requests budget/);
    return true;
  });
}

describe('spend: a key\'s budget survives a restart of tidegate (real processes)', () => {
  let up: MockUpstream;
  before(async () => {
    up = await MockUpstream.start({ dialect: 'openai', name: 'oa', usage: { prompt: 2, completion: 3 } });
  });
  after(async () => {
    await up.close();
  });

  it('SIGTERM flushes the key\'s spend to the ledger; the restarted process still counts it', async () => {
    const dir = tempDir();
    // A long interval: the only ledger write is the one on shutdown.
    const store = { sqlite: join(dir, 'tidegate.db'), sync: { interval: '1h' } };
    await spendThen(dir, up, store, 2, async (tg) => {
      try {
        assert.deepEqual(await keyBudgets(tg), [['requests', 2], ['tokens', 10]]);
      } finally {
        await terminate(tg);
      }
    });
    await restarted(dir, up, store, async (tg) => {
      assert.deepEqual(await keyBudgets(tg), [['requests', 2], ['tokens', 10]]);
      await client(tg).chat.completions.create(ask);
      const served = up.requests.length;
      await refusedForBudget(client(tg));
      assert.equal(up.requests.length, served, 'refused before any upstream request');
    });
  });

  it('a crash (SIGKILL) after a flush: the restarted process counts what was flushed', async () => {
    const dir = tempDir();
    const store = { sqlite: join(dir, 'tidegate.db'), sync: { interval: '1s' } };
    await spendThen(dir, up, store, 3, async (tg) => {
      try {
        await eventually(
          async () => (await getJson(tg.address('admin'), '/sync')).body.stats as Record<string, number>,
          (s) => s.successfulSyncs > 0 && s.pendingUsers === 0,
        );
      } finally {
        tg.child.kill('SIGKILL');
        await tg.exited;
      }
    });
    await restarted(dir, up, store, async (tg) => {
      assert.deepEqual(await keyBudgets(tg), [['requests', 3], ['tokens', 15]]);
      await refusedForBudget(client(tg));
    });
  });

  it('a worker fleet (workers: 2): the primary books the key\'s spend; a restarted fleet still counts it', async () => {
    const dir = tempDir();
    const store = { sqlite: join(dir, 'tidegate.db'), sync: { interval: '1h' } };
    await spendThen(dir, up, store, 2, terminate, 2);
    await restarted(dir, up, store, async (tg) => {
      await client(tg).chat.completions.create(ask);
      await refusedForBudget(client(tg));
    }, 2);
  });

  it('with store.redis and no ledger: the spend is kept in Redis and read back after a restart', {
    skip: HAVE_REDIS ? false : 'redis-server is not installed (apt-get install -y redis-server): skipped',
  }, async () => {
    const dir = tempDir();
    const redis = new RedisServer(dir);
    await redis.start();
    const store = { sqlite: 'off', redis: redis.url };
    try {
      // SIGTERM sends the last deltas to Redis before exit.
      await spendThen(dir, up, store, 2, terminate);
      await restarted(dir, up, store, async (tg) => {
        assert.deepEqual(await keyBudgets(tg), [['requests', 2], ['tokens', 10]]);
        await client(tg).chat.completions.create(ask);
        await refusedForBudget(client(tg));
      });
    } finally {
      await redis.stop();
    }
  });
});
