import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';
import { chat } from '../helpers/llm.js';
import { eventually } from '../helpers/wait.js';

describe('gateway: large bodies go to the worker pool; a full pool queue answers 503 + Retry-After', () => {
  const gw = withGateway({ upstreams: { oa: 'openai' }, pool: { threads: 1, maxQueue: 1, jsonOffloadBytes: '1KiB' } });
  const { oa } = gw.up;

  const big = () => chat('gpt-4o', { messages: [{ role: 'user', content: 'x'.repeat(4096) }] });

  it('a body above jsonOffloadBytes is parsed in the pool and forwarded', async () => {
    const before = gw.runtime.workerPool().stats().completed;
    const r = await post(`${gw.url}/v1/chat/completions`, big());
    assert.equal(r.status, 200);
    assert.equal(oa.requests.at(-1)!.rawBytes > 4096, true);
    assert.ok(gw.runtime.workerPool().stats().completed > before);
  });

  it('bad JSON parsed in the pool still answers 400 with the position', async () => {
    const r = await post(`${gw.url}/v1/chat/completions`, `{"model": "gpt-4o", "pad": "${'y'.repeat(2000)}" x}`);
    assert.equal(r.status, 400);
    assert.equal(r.json().error.code, 'TG_ERR_BAD_REQUEST_BODY');
    assert.equal(typeof r.json().error.position, 'number');
  });

  it('pool saturated → 503 TG_ERR_GATEWAY_BUSY with Retry-After; small bodies still pass inline', async () => {
    const pool = gw.runtime.workerPool();
    const flag = new SharedArrayBuffer(8);
    const view = new Int32Array(flag);
    const running = pool.hold(flag, 10_000);
    await eventually(() => Atomics.load(view, 1) === 1, 5000, 'the hold task to park the worker');
    const queued = pool.hold(flag, 10_000);
    try {
      await eventually(() => pool.stats().queueSize >= 1, 5000, 'a queued task');
      const r = await post(`${gw.url}/v1/chat/completions`, big());
      assert.equal(r.status, 503);
      assert.equal(r.json().error.code, 'TG_ERR_GATEWAY_BUSY');
      assert.ok(Number(r.headers['retry-after']) >= 1);
      assert.equal((await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'))).status, 200);
    } finally {
      Atomics.store(view, 0, 1);
      Atomics.notify(view, 0);
      await running;
      await queued;
    }
  });
});
