import assert from 'node:assert/strict';
import { request } from 'undici';
import { describe, it } from 'node:test';
import { channel, withGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';
import { chat, messages, sseEvents } from '../helpers/llm.js';
import { eventually } from '../helpers/wait.js';

describe('gateway: retries and failover before the first byte; error events after it', () => {
  const gw = withGateway({
    upstreams: { p: 'openai', s: 'openai', ap: 'anthropic' },
    gateway: ({ p, s, ap }) => ({
      strategy: 'priority',
      retries: 2,
      // Long enough that a loaded machine's good channel answers inside it (250 ms gave 504s at load 15).
      firstByteTimeout: '1s',
      breaker: { consecutiveFailures: 1000, minRequests: 1000 },
      channels: [
        channel(p, { keys: ['k1', 'k2'], priority: 3, models: ['gpt-*'] }),
        channel(s, { priority: 2, models: ['gpt-*'] }),
        channel(ap, { models: ['claude-*'] }),
      ],
    }),
  });
  const { p, s, ap } = gw.up;

  it('a 500 fails over to the next channel; the client sees only the good answer', async () => {
    p.script.push({ kind: 'status', status: 500 });
    const r = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'));
    assert.equal(r.status, 200);
    assert.equal(r.json().choices[0].message.content, 'Hello from s');
  });

  it('a channel that sends no first byte within firstByteTimeout is abandoned for the next one', async () => {
    p.script.push({ kind: 'no-first-byte' });
    const before = p.requests.length;
    const r = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o', { stream: true }));
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-tidegate-channel'], 's');
    assert.equal(sseEvents(r.text).at(-1)!.data, '[DONE]');
    await eventually(() => p.requests[before]?.aborted === true, 5000, 'the abandoned upstream request to be aborted');
  });

  it('a key the upstream refuses (401) is skipped: the retry uses the channel\'s next key', async () => {
    p.script.push({ kind: 'status', status: 401 });
    const before = p.requests.length;
    const r = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'));
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-tidegate-channel'], 'p');
    const auths = p.requests.slice(before).map((q) => q.headers.authorization);
    assert.equal(auths.length, 2);
    assert.notEqual(auths[0], auths[1]);
    const creds = gw.channel('p').credentials as { usable: number; skipped: { reason: string }[] };
    assert.equal(creds.usable, 1);
    assert.match(creds.skipped[0]!.reason, /refused by upstream: 401/);
  });

  it('after the first byte, an upstream reset ends an OpenAI stream with an error event, never [DONE]', async () => {
    p.script.push({ kind: 'reset-mid-body' });
    const r = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o', { stream: true }));
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-tidegate-channel'], 'p');
    const events = sseEvents(r.text);
    assert.ok(events.length >= 2);
    assert.ok(!events.some((e) => e.data === '[DONE]'));
    const last = JSON.parse(events.at(-1)!.data);
    assert.equal(last.error.code, 'TG_ERR_UPSTREAM_STREAM');
  });

  it('after the first byte, an upstream reset ends an Anthropic stream with `event: error`', async () => {
    ap.script.push({ kind: 'reset-mid-body' });
    const r = await post(`${gw.url}/v1/messages`, messages('claude-3', { stream: true }));
    const events = sseEvents(r.text);
    const last = events.at(-1)!;
    assert.equal(last.event, 'error');
    assert.equal(JSON.parse(last.data).type, 'error');
    assert.equal(JSON.parse(last.data).error.type, 'api_error');
    assert.ok(!events.some((e) => e.event === 'message_stop'));
  });

  it('after the first byte of a JSON body, an upstream reset cuts the client connection (no clean end)', async () => {
    p.script.push({ kind: 'reset-mid-body' });
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat('gpt-4o')),
    });
    assert.equal(res.statusCode, 200);
    await assert.rejects(res.body.text());
  });
  it('(last: opens both circuits) every channel 429 with Retry-After '
    + '→ 429 to the client with Retry-After', async () => {
    p.script.push({ kind: 'status', status: 429, retryAfter: '7' });
    s.script.push({ kind: 'status', status: 429, retryAfter: '4' });
    const r = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'));
    assert.equal(r.status, 429);
    assert.equal(r.headers['retry-after'], '4');
    assert.equal(r.json().error.code, 'TG_ERR_UPSTREAM_RATE_LIMITED');
  });

});
