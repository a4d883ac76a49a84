import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { channel, withGateway } from '../helpers/gateway.js';
import { eventually } from '../helpers/wait.js';
import { flushedRows, metrics, sample, usageOf } from './harness.js';

describe('spend: exact usage on every path, token classes apart', () => {
  const gw = withGateway({
    sqlite: true,
    upstreams: {
      oa: { dialect: 'openai', usage: { prompt: 20, completion: 9, cached: 5, reasoning: 3 } },
      an: { dialect: 'anthropic', usage: { prompt: 13, completion: 5, cached: 7, cacheWrite: 4 } },
      slow: { dialect: 'openai', pieces: Array.from({ length: 200 }, (_, i) => `p${i} `), chunkDelayMs: 20 },
    },
    gateway: ({ oa, an, slow }) => ({
      channels: [channel(oa, { models: ['gpt-*'] }), channel(an, { models: ['claude-*'] }), channel(slow,
        { models: ['slow-*'] })],
    }),
    users: [{ id: 'alice', keys: ['ka'] }],
  });
  const { oa } = gw.up;
  const openai = (): OpenAI => new OpenAI({ apiKey: 'ka', baseURL: `${gw.url}/v1`, maxRetries: 0 });
  const anthropic = (): Anthropic => new Anthropic({ apiKey: 'ka', baseURL: gw.url, maxRetries: 0 });

  it('a client that did not ask for usage: upstream asked, no usage chunk reaches it, exact row', async () => {
    const stream = await openai().chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user',
      content: 'hi' }], stream: true });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'Hello from oa');
    assert.ok(chunks.every((c) => c.choices.length > 0 && c.usage == null), 'no usage-only chunk reached the client');
    assert.deepEqual(oa.requests.at(-1)!.body!.stream_options, { include_usage: true });
    const row = (await flushedRows(gw)).at(-1)!;
    assert.deepEqual(
      [row.prompt_tokens, row.completion_tokens, row.total_tokens, row.input_tokens, row.cache_read_tokens,
        row.cache_write_tokens, row.output_tokens, row.reasoning_tokens, row.estimated],
      [20, 9, 29, 15, 5, 0, 6, 3, 0],
    );
  });

  it('the rest of the stream is byte-identical to the upstream\'s own stream without usage', async () => {
    const body = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true };
    const direct = await request(`${oa.baseUrl}/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const expected = await direct.body.text();
    const via = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ka' },
      body: JSON.stringify(body),
    });
    assert.equal(await via.body.text(), expected);
  });

  it('a client that asked for usage gets the usage chunk as sent', async () => {
    const stream = await openai().chat.completions.create({
      model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.Completions.CompletionUsage | null | undefined = null;
    for await (const c of stream) if (c.usage) usage = c.usage;
    assert.equal(usage?.total_tokens, 29);
    assert.equal(usage?.prompt_tokens_details?.cached_tokens, 5);
  });

  it('non-streamed OpenAI answer: cached and reasoning tokens apart', async () => {
    const r = await openai().chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.usage?.total_tokens, 29);
    const row = (await flushedRows(gw)).at(-1)!;
    assert.deepEqual([row.input_tokens, row.cache_read_tokens, row.output_tokens, row.reasoning_tokens], [15, 5, 6, 3]);
  });

  it('Anthropic streamed and not (official SDK): cache reads and writes apart', async () => {
    const m = await anthropic().messages.create({ model: 'claude-3', max_tokens: 100, messages: [{ role: 'user',
      content: 'hi' }] });
    assert.equal(m.usage.cache_read_input_tokens, 7);
    let row = (await flushedRows(gw)).at(-1)!;
    assert.deepEqual(
      [row.prompt_tokens, row.input_tokens, row.cache_read_tokens, row.cache_write_tokens, row.output_tokens,
        row.estimated],
      [24, 13, 7, 4, 5, 0],
    );
    const stream = anthropic().messages.stream({ model: 'claude-3', max_tokens: 100, messages: [{ role: 'user',
      content: 'hi' }] });
    const final = await stream.finalMessage();
    assert.equal(final.usage.output_tokens, 5);
    row = (await flushedRows(gw)).at(-1)!;
    assert.deepEqual(
      [row.prompt_tokens, row.input_tokens, row.cache_read_tokens, row.cache_write_tokens, row.output_tokens,
        row.stream],
      [24, 13, 7, 4, 5, 1],
    );
  });

  it('an aborted stream books what was seen, flagged estimated (never null)', async () => {
    const before = (await flushedRows(gw)).length;
    const controller = new AbortController();
    const stream = await openai().chat.completions.create(
      { model: 'slow-1', messages: [{ role: 'user', content: 'x'.repeat(400) }], stream: true },
      { signal: controller.signal },
    );
    let seen = 0;
    try {
      for await (const c of stream) {
        if (c.choices[0]?.delta?.content) seen++;
        if (seen === 10) controller.abort();
      }
    } catch (err) {
      // The SDK may end the iteration quietly or throw its abort error: either way the client is gone.
      assert.ok(err instanceof Error);
    }
    assert.equal(seen, 10);
    const rows = await eventually(() => flushedRows(gw), (r) => r.length > before);
    const row = rows.at(-1)!;
    assert.equal(row.status, 499);
    assert.equal(row.estimated, 1);
    assert.ok((row.prompt_tokens as number) >= 100, `prompt estimate from the request: ${row.prompt_tokens}`);
    assert.ok((row.completion_tokens as number) >= 10 && (row.completion_tokens as number) < 200,
      `output seen: ${row.completion_tokens}`);
    assert.equal(row.input_tokens, row.prompt_tokens);
    assert.equal(row.cost_micros, 0);
  });

  it('/metrics: tokens by class, and the gateway\'s bytes and connections', async () => {
    await gw.runtime.accounting.flush();
    const text = await metrics(gw);
    assert.ok(sample(text, 'tidegate_service_bytes_total', 'service="llm",direction="in"') > 0);
    assert.ok(sample(text, 'tidegate_service_bytes_total', 'service="llm",direction="out"') > 0);
    assert.ok(sample(text, 'tidegate_service_connections_total', 'service="llm"') > 0);
    assert.ok(sample(text, 'tidegate_user_tokens_by_class_total', 'user="alice",class="cache_read"') >= 5 + 5 + 7 + 7);
    assert.ok(sample(text, 'tidegate_user_tokens_by_class_total', 'user="alice",class="reasoning"') >= 6);
    assert.ok(sample(text, 'tidegate_user_tokens_by_class_total', 'user="alice",class="cache_write"') >= 8);
    const usage = usageOf(gw, 'alice');
    const live = usage.live as Record<string, number>;
    assert.ok(live.cacheReadTokens >= 24 && live.reasoningTokens >= 6);
  });
});
