import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { scanInPool } from '../../src/credentials/offload.js';
import { summarizeRequest } from '../../src/dialects/index.js';
import { convertRequest, convertResponse, parseRequest } from '../../src/dialects/offload.js';
import { JsonBodyError, PoolClosedError, PoolQueueFullError, PoolTaskError } from '../../src/errors.js';
import type { WorkerPool } from '../../src/pool/index.js';
import { anthropicRequest, buf, chatBodyOfSize, openAIChatRequest } from '../fixtures/pool/bodies.js';
import { Hold, makePool } from './helpers.js';

describe('pool tasks (everything offloaded: threshold 0)', () => {
  let pool: WorkerPool;
  before(() => { pool = makePool({ threads: 2 }, 0); });
  after(() => pool.close());

  it('parseRequest in a worker gives the same summary as inline', async () => {
    const body = chatBodyOfSize(300_000);
    const { body: same, ...s } = await parseRequest(pool, 'openai-chat', body, { sessionField: null });
    assert.deepEqual(s, summarizeRequest('openai-chat', body, null));
    assert.ok(body.byteLength > 0, 'the caller keeps its Buffer (copied, not transferred)');
    assert.strictEqual(same, body);
    assert.equal(pool.stats().inline, 0);
  });

  it('anthropic body with a nested session field', async () => {
    const s = await parseRequest(
      pool, 'anthropic-messages', buf(anthropicRequest), { sessionField: 'metadata.user_id' },
    );
    assert.equal(s.sessionId, 'user-7');
    assert.equal(s.model, 'claude-sonnet-4');
  });

  it('input problems come back as JsonBodyError with path and position', async () => {
    await assert.rejects(
      parseRequest(pool, 'openai-chat', Buffer.from('{"model":"m",}')),
      (e: unknown) => e instanceof JsonBodyError && e.problem === 'syntax' && e.position === 13,
    );
    await assert.rejects(
      parseRequest(pool, 'openai-chat', buf({ model: 'm', messages: [{ role: 'x' }] })),
      (e: unknown) => e instanceof JsonBodyError && e.path === '$.messages[0].role',
    );
    await assert.rejects(
      parseRequest(pool, 'openai-chat', Buffer.from([0x7b, 0xfe])),
      (e: unknown) => e instanceof JsonBodyError && e.problem === 'utf8' && e.position === 1,
    );
    await assert.rejects(
      convertRequest(pool, 'anthropic-messages', 'openai-chat', buf({ model: 'c', messages: [] })),
      (e: unknown) => e instanceof JsonBodyError && e.path === '$.max_tokens',
    );
  });

  it('convertRequest / convertResponse return Buffers moved back from the worker', async () => {
    const out = await convertRequest(pool, 'openai-chat', 'anthropic-messages', buf(openAIChatRequest));
    assert.ok(Buffer.isBuffer(out));
    const back = await convertRequest(pool, 'anthropic-messages', 'openai-chat', out);
    assert.deepEqual(JSON.parse(back.toString()), openAIChatRequest);
    const resp = await convertResponse(pool, 'anthropic-messages', 'openai-chat', buf({
      type: 'message', id: 'm', model: 'c', content: [{ type: 'text', text: 'hi' }], stop_reason: 'end_turn',
      usage: { input_tokens: 1, output_tokens: 1 },
    }));
    assert.equal(
      (JSON.parse(resp.toString()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content,
      'hi',
    );
  });

  it('parseRequest with transfer: true moves the body to the worker and back, uncopied', async () => {
    const original = chatBodyOfSize(200_000);
    const body = Buffer.allocUnsafeSlow(original.byteLength);
    original.copy(body);
    const parsed = await parseRequest(pool, 'openai-chat', body, { transfer: true });
    assert.equal(body.byteLength, 0, 'the caller gave its Buffer up');
    assert.notStrictEqual(parsed.body, body);
    assert.ok(parsed.body.equals(original), 'the same bytes came back');
    assert.equal(parsed.messageCount, summarizeRequest('openai-chat', original, null).messageCount);
  });

  it('transfer: true hands the caller\'s Buffer over without a copy (it is detached afterwards)', async () => {
    const body = Buffer.allocUnsafeSlow(Buffer.byteLength(JSON.stringify(openAIChatRequest)));
    body.write(JSON.stringify(openAIChatRequest));
    const out = await convertRequest(pool, 'openai-chat', 'anthropic-messages', body, { transfer: true });
    assert.equal(body.byteLength, 0);
    assert.equal((JSON.parse(out.toString()) as { system: string }).system, 'You are terse.');
    // A slice of a larger allocation is copied even with transfer: true, so its neighbours survive.
    const big = Buffer.alloc(100, 0x20);
    const slice = big.subarray(10, 10 + 2);
    slice.write('{}');
    await assert.rejects(parseRequest(pool, 'openai-chat', slice, { transfer: true }), JsonBodyError);
    assert.equal(big.byteLength, 100);
  });

  it('stats: threads, queue, run/wait percentiles, completed', () => {
    const s = pool.stats();
    assert.ok(s.threads >= 1 && s.threads <= 2);
    assert.equal(s.maxQueue, 16);
    assert.equal(s.queueSize, 0);
    assert.ok(s.completed >= 6);
    assert.equal(typeof s.runTime.p50, 'number');
    assert.equal(typeof s.waitTime.p99, 'number');
    assert.ok(s.utilization >= 0 && s.utilization <= 1);
  });
});

describe('inline below the threshold', () => {
  it('small bodies never reach the pool; at or above the threshold they do', async () => {
    const pool = makePool({}, 1024);
    try {
      const small = buf({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
      await parseRequest(pool, 'openai-chat', small);
      await assert.rejects(parseRequest(pool, 'openai-chat', Buffer.from('nope')), JsonBodyError);
      assert.equal(pool.stats().inline, 2);
      assert.equal(pool.stats().completed, 0);
      await parseRequest(pool, 'openai-chat', chatBodyOfSize(1024));
      assert.equal(pool.stats().inline, 2);
      assert.equal(pool.stats().completed, 1);
    } finally {
      await pool.close();
    }
  });
});

describe('faults', () => {
  it('a full queue rejects at once with PoolQueueFullError (TG_ERR_POOL_QUEUE_FULL)', async () => {
    const pool = makePool({ threads: 1, maxQueue: 1 });
    try {
      const h1 = new Hold();
      const running = pool.hold(h1.sab);
      await h1.parked();
      const h2 = new Hold();
      const queued = pool.hold(h2.sab);
      assert.equal(pool.stats().queueSize, 1);
      await assert.rejects(parseRequest(pool, 'openai-chat', buf(openAIChatRequest)), (e: unknown) => {
        assert.ok(e instanceof PoolQueueFullError);
        assert.equal(e.code, 'TG_ERR_POOL_QUEUE_FULL');
        assert.equal(e.retryAfterSeconds, 1);
        return true;
      });
      assert.equal(pool.stats().rejectedQueueFull, 1);
      h1.release();
      h2.release();
      assert.equal(await running, true);
      assert.equal(await queued, true);
      assert.equal((await parseRequest(pool, 'openai-chat', buf(openAIChatRequest))).model, 'gpt-4o');
    } finally {
      await pool.close();
    }
  });

  it('a worker that dies: its task rejects with PoolTaskError, the worker is replaced, '
    + 'the next task succeeds', async () => {
    const pool = makePool({ threads: 1 });
    try {
      const h = new Hold();
      const doomed = pool.hold(h.sab);
      await h.parked();
      h.crash();
      await assert.rejects(doomed, (e: unknown) => e instanceof PoolTaskError && e.code === 'TG_ERR_POOL_TASK' && /hold/.test(e.message));
      assert.equal(pool.stats().failed, 1);
      const s = await parseRequest(pool, 'openai-chat', buf(openAIChatRequest));
      assert.equal(s.model, 'gpt-4o');
    } finally {
      await pool.close();
    }
  });

  it('an aborted signal rejects a queued task without running it', async () => {
    const pool = makePool({ threads: 1 });
    try {
      const h = new Hold();
      const running = pool.hold(h.sab);
      await h.parked();
      const ac = new AbortController();
      const queued = parseRequest(pool, 'openai-chat', buf(openAIChatRequest), { signal: ac.signal });
      ac.abort();
      await assert.rejects(queued, (e: unknown) => e instanceof Error && e.name === 'AbortError');
      h.release();
      await running;
      const pre = new AbortController();
      pre.abort();
      const inlinePool = makePool({}, 1 << 20);
      await assert.rejects(
        parseRequest(inlinePool, 'openai-chat', buf(openAIChatRequest), { signal: pre.signal }),
        (e: unknown) => e instanceof Error && e.name === 'AbortError',
      );
      await inlinePool.close();
    } finally {
      await pool.close();
    }
  });

  it('a closed pool refuses work with PoolClosedError', async () => {
    const pool = makePool();
    await pool.close();
    await assert.rejects(parseRequest(pool, 'openai-chat', buf(openAIChatRequest)), PoolClosedError);
    await assert.rejects(scanInPool(pool, '/tmp'), PoolClosedError);
  });
});
