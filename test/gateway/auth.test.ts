import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { channel, withGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';
import { chat, messages } from '../helpers/llm.js';

describe('gateway: client auth by API key', () => {
  const gw = withGateway({
    upstreams: { oa: 'openai' },
    gateway: ({ oa }) => ({ channels: [channel(oa, { keys: ['sk-upstream'] })] }),
    users: [{ id: 'alice', keys: ['tg-alice'] }],
  });
  const { oa } = gw.up;

  it('no key → 401 TG_ERR_GATEWAY_AUTH (OpenAI shape), nothing sent upstream', async () => {
    const r = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'));
    assert.equal(r.status, 401);
    assert.equal(r.json().error.code, 'TG_ERR_GATEWAY_AUTH');
    assert.equal(r.json().error.type, 'authentication_error');
    assert.equal(oa.requests.length, 0);
  });

  it('unknown key → 401 (Anthropic shape on /v1/messages)', async () => {
    const r = await post(`${gw.url}/v1/messages`, messages('gpt-4o'), { 'x-api-key': 'nope' });
    assert.equal(r.status, 401);
    assert.equal(r.json().type, 'error');
    assert.equal(r.json().error.type, 'authentication_error');
  });

  it('Authorization: Bearer and x-api-key both work; the client key never reaches the upstream', async () => {
    assert.equal(
      (await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'), { authorization: 'Bearer tg-alice' })).status, 200,
    );
    assert.equal(
      (await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'), { 'x-api-key': 'tg-alice' })).status, 200,
    );
    for (const q of oa.requests) {
      assert.equal(q.headers.authorization, 'Bearer sk-upstream');
      assert.equal(q.headers['x-api-key'], undefined);
    }
  });

  it('/v1/models needs a key too', async () => {
    const res = await fetch(`${gw.url}/v1/models`);
    assert.equal(res.status, 401);
  });
});

describe('gateway: without users it is open and says so at start', () => {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  const gw = withGateway({ upstreams: { oa: 'openai' }, log: pino({ level: 'info' }, sink) });

  it('logs a warning naming the service and serves requests without a key', async () => {
    const warning = lines.map((l) => JSON.parse(l)).find((l) => /open to every client/.test(l.msg));
    assert.ok(warning, 'expected an "open" warning at start');
    assert.equal(warning.service, 'llm');
    assert.equal(gw.detail<{ open: boolean }>().open, true);
    assert.equal((await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'))).status, 200);
  });
});
