import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MockUpstream } from '../fixtures/llm-upstream.js';
import { freePortRange } from '../helpers/listen.js';
import { startManaged, TOKEN, type Managed } from './managed.js';

async function chat(port: number, key: string, model: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('management API: request log and usage summary', () => {
  let tg: Managed;
  let upstream: MockUpstream;
  let gatewayPort = 0;
  let key = '';

  before(async () => {
    upstream = await MockUpstream.start({ dialect: 'openai', name: 'up', usage: { prompt: 7, completion: 5 } });
    const from = await freePortRange(21);
    tg = await startManaged({ admin: { listen: '127.0.0.1:0', token: TOKEN, portRange: `${from}-${from + 20}` } });
    assert.equal((await tg.api('POST', '/users', { id: 'ann' })).status, 201);
    assert.equal((await tg.api('POST', '/users', { id: 'ben' })).status, 201);
    const issued = await tg.api('POST', '/users/ann/keys', {});
    key = issued.body.key;
    const benKey = (await tg.api('POST', '/users/ben/keys', {})).body.key as string;
    const svc = await tg.api('POST', '/services', {
      name: 'llm', type: 'gateway', listen: '127.0.0.1:auto',
      channels: [{ name: 'main', baseUrl: upstream.baseUrl, keys: ['sk-up'] }],
    });
    assert.equal(svc.status, 201, JSON.stringify(svc.body));
    gatewayPort = Number(svc.body.status.listen.split(':').pop());
    for (let i = 0; i < 5; i++) assert.equal(await chat(gatewayPort, key, 'gpt-a'), 200);
    for (let i = 0; i < 3; i++) assert.equal(await chat(gatewayPort, key, 'gpt-b'), 200);
    assert.equal(await chat(gatewayPort, benKey, 'gpt-a'), 200);
    await tg.runtime.usageLog!.flush();
  });
  after(async () => {
    await tg.stop();
    await upstream.close();
  });

  it('authenticates keys issued by the API (kept as hashes) and refuses others', async () => {
    assert.equal(await chat(gatewayPort, 'tg_not-a-key', 'gpt-a'), 401);
    assert.equal(await chat(gatewayPort, key.slice(0, -1), 'gpt-a'), 401);
  });

  it('pages the filtered request log newest first with a cursor', async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      type Page = { items: { id: number; user: string; totalTokens: number }[]; nextCursor: string | null };
      const page: { status: number; body: Page } =
        await tg.api('GET', `/requests?user=ann&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(page.status, 200);
      assert.ok(page.body.items.length <= 3);
      for (const row of page.body.items) {
        assert.equal(row.user, 'ann');
        assert.equal(row.totalTokens, 12);
        seen.push(row.id);
      }
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    assert.equal(seen.length, 8);
    assert.deepEqual([...seen].sort((a, b) => b - a), seen);
    const b = await tg.api('GET', '/requests?model=gpt-b&status=200');
    assert.equal(b.body.items.length, 3);
    assert.equal((await tg.api('GET', '/requests?service=llm&since=2000-01-01&until=2000-01-02')).body.items.length, 0);
    assert.equal((await tg.api('GET', '/requests?cursor=bogus')).status, 400);
    assert.equal((await tg.api('GET', '/requests?limit=0')).status, 400);
    assert.equal((await tg.api('GET', '/requests?since=yesterday')).status, 400);
  });

  it('summarizes by model, user and day', async () => {
    // The log as a whole: the two refused requests above are in it whether or not its timer flushed them yet.
    await tg.runtime.usageLog!.flush();
    const byModel = await tg.api('GET', '/usage/summary?groupBy=model');
    assert.equal(byModel.status, 200);
    type Row = { key: string | null; requests: number; errors: number; totalTokens: number };
    const rows = byModel.body.rows.map((r: Row) => [r.key, r.requests, r.errors, r.totalTokens]);
    // Refused before the body was read: no model, no user, no tokens, two errors.
    assert.deepEqual(rows, [[null, 2, 2, 0], ['gpt-a', 6, 0, 72], ['gpt-b', 3, 0, 36]]);
    const byUser = await tg.api('GET', '/usage/summary?groupBy=user');
    const perUser = byUser.body.rows.map((r: Row) => [r.key, r.requests]);
    assert.deepEqual(perUser, [[null, 2], ['ann', 8], ['ben', 1]]);
    const byDay = await tg.api('GET', `/usage/summary?groupBy=day&since=${Date.now() - 86_400_000}`);
    assert.equal(byDay.body.rows.length >= 1, true);
    assert.equal((await tg.api('GET', '/usage/summary?groupBy=colour')).status, 400);
  });

  it('walks an index for every filter', () => {
    const q = tg.runtime.requestQuery!;
    for (const column of ['user', 'service', 'channel', 'model', 'status'] as const) {
      const plan = q.plan({ [column]: column === 'status' ? 200 : 'x' });
      assert.match(plan, new RegExp(`USING INDEX request_log_${column}_ts`), plan);
      assert.doesNotMatch(plan, /TEMP B-TREE/, plan);
    }
  });
});
