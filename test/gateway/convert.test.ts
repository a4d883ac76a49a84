import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { channel, withGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';
import { chat, messages, sseEvents } from '../helpers/llm.js';

describe('gateway: conversion between OpenAI and Anthropic dialects', () => {
  const gw = withGateway({
    upstreams: { oa: 'openai', an: 'anthropic' },
    gateway: ({ oa, an }) => ({
      channels: [channel(oa, { keys: ['sk-oa'] }), channel(an, { keys: ['sk-an'] })],
      rules: [
        // OpenAI-shaped requests for claude-* go to the Anthropic channel, Anthropic-shaped gpt-* to OpenAI.
        { match: { model: 'claude-*' }, channels: ['an'] },
        { match: { model: 'gpt-*' }, channels: ['oa'] },
      ],
    }),
  });
  const { oa, an } = gw.up;

  it('OpenAI request → Anthropic channel (non-streamed): request and response converted', async () => {
    const r = await post(`${gw.url}/v1/chat/completions`, chat('claude-3-5-sonnet', {
      messages: [{ role: 'system', content: 'Be brief' }, { role: 'user', content: 'Hi' }],
    }));
    assert.equal(r.status, 200);
    const j = r.json();
    assert.equal(j.object, 'chat.completion');
    assert.equal(j.choices[0].message.content, 'Hello from an');
    assert.equal(j.choices[0].finish_reason, 'stop');
    assert.equal(j.usage.prompt_tokens, 11);
    assert.equal(j.usage.completion_tokens, 7);
    const seen = an.requests.at(-1)!;
    assert.equal(seen.path, '/v1/messages');
    assert.equal(seen.headers['x-api-key'], 'sk-an');
    assert.equal(seen.body!.system, 'Be brief');
    assert.equal(typeof seen.body!.max_tokens, 'number');
    assert.deepEqual((seen.body!.messages as { role: string }[]).map((m) => m.role), ['user']);
  });

  it('Anthropic request → OpenAI channel (non-streamed): request and response converted', async () => {
    const r = await post(`${gw.url}/v1/messages`, messages('gpt-4o', { system: 'Be brief' }));
    assert.equal(r.status, 200);
    const j = r.json();
    assert.equal(j.type, 'message');
    assert.equal(j.content[0].text, 'Hello from oa');
    assert.equal(j.stop_reason, 'end_turn');
    assert.equal(j.usage.input_tokens, 11);
    const seen = oa.requests.at(-1)!;
    assert.equal(seen.path, '/v1/chat/completions');
    assert.equal(seen.headers.authorization, 'Bearer sk-oa');
    assert.deepEqual((seen.body!.messages as { role: string }[]).map((m) => m.role), ['system', 'user']);
  });

  it('OpenAI streamed request → Anthropic channel: events converted one by one, '
    + 'ending with usage and [DONE]', async () => {
    const r = await post(`${gw.url}/v1/chat/completions`, chat('claude-3-5-sonnet', { stream: true }));
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /text\/event-stream/);
    const events = sseEvents(r.text);
    assert.equal(events.at(-1)!.data, '[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, 'Hello from an');
    assert.equal(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason, 'stop');
    assert.deepEqual(chunks.at(-1).usage, { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 });
  });

  it('Anthropic streamed request → OpenAI channel: message_start … message_stop, '
    + 'usage asked for and passed on', async () => {
    const r = await post(`${gw.url}/v1/messages`, messages('gpt-4o', { stream: true }));
    assert.equal(r.status, 200);
    const events = sseEvents(r.text);
    const names = events.map((e) => e.event);
    assert.equal(names[0], 'message_start');
    assert.equal(names.at(-1), 'message_stop');
    assert.ok(names.includes('content_block_start'));
    assert.ok(names.includes('content_block_stop'));
    const text = events.filter((e) => e.event === 'content_block_delta')
      .map((e) => JSON.parse(e.data).delta.text).join('');
    assert.equal(text, 'Hello from oa');
    const delta = JSON.parse(events.find((e) => e.event === 'message_delta')!.data);
    assert.equal(delta.delta.stop_reason, 'end_turn');
    assert.equal(delta.usage.output_tokens, 7);
    assert.deepEqual(oa.requests.at(-1)!.body!.stream_options, { include_usage: true });
  });

  it('an upstream error on a converted route comes back in the client\'s dialect', async () => {
    an.script.push({
      kind: 'status', status: 400,
      body: '{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens too big"}}',
    });
    const r = await post(`${gw.url}/v1/chat/completions`, chat('claude-3'));
    assert.equal(r.status, 400);
    assert.equal(r.json().error.message, 'max_tokens too big');
    assert.equal(r.json().error.type, 'invalid_request_error');
  });
});

describe('gateway: cache token classes inside converted streams', () => {
  const usage = { prompt: 11, completion: 7, cached: 5, cacheWrite: 3 };
  const gw = withGateway({
    upstreams: { an: { dialect: 'anthropic', usage }, oa: { dialect: 'openai', usage: { ...usage, cacheWrite: 0 } } },
    gateway: ({ oa, an }) => ({
      channels: [channel(oa, { keys: ['sk-oa'] }), channel(an, { keys: ['sk-an'] })],
      rules: [{ match: { model: 'claude-*' }, channels: ['an'] }, { match: { model: 'gpt-*' }, channels: ['oa'] }],
    }),
  });

  it('Anthropic cache reads and writes → a Chat stream: prompt_tokens counts both, cached_tokens the reads',
    async () => {
      const r = await post(`${gw.url}/v1/chat/completions`, chat('claude-3-5-sonnet', {
        stream: true, stream_options: { include_usage: true },
      }));
      const chunks = sseEvents(r.text).slice(0, -1).map((e) => JSON.parse(e.data));
      assert.deepEqual(chunks.at(-1).usage, {
        prompt_tokens: 19, completion_tokens: 7, total_tokens: 26, prompt_tokens_details: { cached_tokens: 5 },
      });
    });

  it('OpenAI cached tokens → an Anthropic stream: input without them, cache_read_input_tokens apart', async () => {
    const r = await post(`${gw.url}/v1/messages`, messages('gpt-4o', { stream: true }));
    const delta = sseEvents(r.text).find((e) => e.event === 'message_delta')!;
    assert.deepEqual(JSON.parse(delta.data).usage, { input_tokens: 6, output_tokens: 7, cache_read_input_tokens: 5 });
  });
});
