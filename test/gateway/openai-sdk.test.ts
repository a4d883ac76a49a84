import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { before, describe, it } from 'node:test';
import { channel, withGateway } from '../helpers/gateway.js';

describe('gateway: through the official openai npm client', () => {
  const gw = withGateway({
    upstreams: { oa: 'openai', an: 'anthropic' },
    gateway: ({ oa, an }) => ({
      channels: [
        channel(oa, { keys: ['sk-up'], models: ['gpt-*'] }),
        channel(an, { keys: ['sk-an'], models: ['claude-*'] }),
      ],
    }),
    users: [{ id: 'team', keys: ['tg-team'] }],
  });
  const { oa } = gw.up;
  let client: OpenAI;
  before(() => {
    client = new OpenAI({ apiKey: 'tg-team', baseURL: `${gw.url}/v1`, maxRetries: 0 });
  });

  it('chat.completions.create (non-streamed)', async () => {
    const r = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.choices[0]!.message.content, 'Hello from oa');
    assert.equal(r.usage?.total_tokens, 18);
  });

  it('chat.completions.create with stream: true, token by token', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true,
    });
    const parts: string[] = [];
    for await (const chunk of stream) parts.push(chunk.choices[0]?.delta?.content ?? '');
    assert.equal(parts.join(''), 'Hello from oa');
  });

  it('a claude model through the OpenAI client (converted, streamed)', async () => {
    const stream = await client.chat.completions.create({
      model: 'claude-3-5-sonnet', messages: [{ role: 'user', content: 'hi' }], stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.equal(text, 'Hello from an');
  });

  it('models.list and embeddings.create', async () => {
    const page = await client.models.list();
    assert.ok(Array.isArray(page.data));
    const e = await client.embeddings.create({ model: 'gpt-embed', input: 'x' });
    assert.equal(e.data[0]!.embedding.length, 3);
  });

  it('errors surface as the SDK\'s typed errors (401, stream error event)', async () => {
    const bad = new OpenAI({ apiKey: 'wrong', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const create = bad.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    await assert.rejects(create, (err: unknown) => {
      assert.ok(err instanceof OpenAI.AuthenticationError);
      assert.equal((err as { code?: string }).code, 'TG_ERR_GATEWAY_AUTH');
      return true;
    });
    oa.script.push({ kind: 'reset-mid-body' });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true,
    });
    await assert.rejects(async () => {
      for await (const _ of stream) { /* consume until the error event */ }
    }, /TG_ERR_UPSTREAM_STREAM|failed|socket|other side closed/i);
  });
});
