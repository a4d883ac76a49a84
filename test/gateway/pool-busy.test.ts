import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MockUpstream } from '../fixtures/llm-upstream.js';
import { chat, post, startGateway, waitFor, type StartedGateway } from './helpers.js';

describe('gateway: large bodies go to the worker pool; a full pool queue answers 503 + Retry-After', () => {
  let oa: MockUpstream;
  let gw: StartedGateway;
  before(async () => {
    oa = await MockUpstream.start({ dialect: 'openai', name: 'oa' });
    gw = await startGateway(
      { channels: [{ name: 'oa', kind: 'openai', baseUrl: oa.baseUrl, keys: ['k'] }] },
      { pool: { threads: 1, maxQueue: 1, jsonOffloadBytes: '1KiB' } },
    );
  });
  after(async () => {
    await gw.close();
    await oa.close();
  });

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
    await waitFor(() => Atomics.load(view, 1) === 1, 5000, 'the hold task to park the worker');
    const queued = pool.hold(flag, 10_000);
    try {
      await waitFor(() => pool.stats().queueSize >= 1, 5000, 'a queued task');
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
