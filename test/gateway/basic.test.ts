import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { channel, withGateway } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';
import { chat, messages, sseEvents } from '../helpers/llm.js';

describe('gateway: endpoints pass through to channels of their own dialect', () => {
  const gw = withGateway({
    upstreams: { oa: 'openai', an: 'anthropic' },
    gateway: ({ oa, an }) => ({
      channels: [
        channel(oa, { keys: ['sk-oa'], models: ['gpt-*', 'text-embedding-3-small'] }),
        channel(an, { keys: ['sk-an'], models: ['claude-*'] }),
      ],
    }),
  });
  const { oa, an } = gw.up;

  it('POST /v1/chat/completions goes to the openai channel at baseUrl + /chat/completions with its key', async () => {
    const r = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'));
    assert.equal(r.status, 200);
    assert.equal(r.json().choices[0].message.content, 'Hello from oa');
    assert.equal(r.headers['x-tidegate-channel'], 'oa');
    const seen = oa.requests.at(-1)!;
    assert.equal(seen.path, '/v1/chat/completions');
    assert.equal(seen.headers.authorization, 'Bearer sk-oa');
  });

  it('POST /v1/messages goes to the anthropic channel at baseUrl + /v1/messages with x-api-key', async () => {
    const r = await post(`${gw.url}/v1/messages`, messages('claude-3-5-haiku'), { 'anthropic-version': '2023-06-01' });
    assert.equal(r.status, 200);
    assert.equal(r.json().content[0].text, 'Hello from an');
    const seen = an.requests.at(-1)!;
    assert.equal(seen.path, '/v1/messages');
    assert.equal(seen.headers['x-api-key'], 'sk-an');
    assert.equal(seen.headers['anthropic-version'], '2023-06-01');
  });

  it('POST /v1/embeddings and /v1/completions reach the openai channel', async () => {
    const e = await post(`${gw.url}/v1/embeddings`, { model: 'text-embedding-3-small', input: 'hi' });
    assert.equal(e.status, 200);
    assert.deepEqual(e.json().data[0].embedding, [0.1, 0.2, 0.3]);
    assert.equal(oa.requests.at(-1)!.path, '/v1/embeddings');
    const c = await post(`${gw.url}/v1/completions`, { model: 'gpt-3.5-turbo-instruct', prompt: 'Say' });
    assert.equal(c.status, 200);
    assert.equal(c.json().choices[0].text, 'Hello from oa');
    assert.equal(oa.requests.at(-1)!.path, '/v1/completions');
  });

  it('GET /v1/models lists exact model names (OpenAI shape, Anthropic shape with anthropic-version)', async () => {
    const r = await get(`${gw.url}/v1/models`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json().data.map((m: { id: string }) => m.id), ['text-embedding-3-small']);
    assert.equal(r.json().object, 'list');
    const a = await get(`${gw.url}/v1/models`, { 'anthropic-version': '2023-06-01' });
    assert.equal(a.json().data[0].type, 'model');
  });

  it('streams SSE through in order, ending with [DONE]', async () => {
    const r = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o', { stream: true }));
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /text\/event-stream/);
    const events = sseEvents(r.text);
    assert.equal(events.at(-1)!.data, '[DONE]');
    const text = events.slice(0, -1).map((e) => JSON.parse(e.data).choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, 'Hello from oa');
  });
});
