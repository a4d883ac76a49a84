import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GoogleGenAI } from '@google/genai';
import { channel, withGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';

describe('gateway: Gemini clients (@google/genai) on Anthropic and OpenAI channels', () => {
  const gw = withGateway({
    upstreams: { an: 'anthropic', oa: 'openai' },
    gateway: ({ an, oa }) => ({
      channels: [channel(an, { models: ['claude-*'] }), channel(oa, { models: ['gpt-*'] })],
    }),
    users: [{ id: 'team', keys: ['tg-team'] }],
  });
  const { an, oa } = gw.up;
  const client = (): GoogleGenAI => new GoogleGenAI({ apiKey: 'tg-team', httpOptions: { baseUrl: gw.url } });

  it('generateContent against an Anthropic upstream: converted both ways, the key in x-goog-api-key', async () => {
    const r = await client().models.generateContent({
      model: 'claude-sonnet-4',
      contents: [{ role: 'user', parts: [{ text: 'Hi' }] }],
      config: { systemInstruction: 'Be brief', maxOutputTokens: 100, temperature: 0.5 },
    });
    assert.equal(r.text, 'Hello from an');
    assert.equal(r.candidates![0]!.finishReason, 'STOP');
    assert.equal(r.usageMetadata?.promptTokenCount, 11);
    assert.equal(r.usageMetadata?.candidatesTokenCount, 7);
    const seen = an.requests.at(-1)!;
    assert.equal(seen.path, '/v1/messages');
    assert.deepEqual(seen.body, {
      model: 'claude-sonnet-4', system: 'Be brief',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      max_tokens: 100, temperature: 0.5, stream: false,
    });
  });

  it('generateContentStream against an Anthropic upstream: text chunks, then the finish reason and usage', async () => {
    const stream = await client().models.generateContentStream({ model: 'claude-sonnet-4', contents: 'Hi' });
    let text = '';
    let finish: string | undefined;
    let usage: number | undefined;
    for await (const chunk of stream) {
      text += chunk.text ?? '';
      finish = chunk.candidates?.[0]?.finishReason ?? finish;
      usage = chunk.usageMetadata?.totalTokenCount ?? usage;
    }
    assert.equal(text, 'Hello from an');
    assert.equal(finish, 'STOP');
    assert.equal(usage, 18);
    const seen = an.requests.at(-1)!;
    assert.equal(seen.path, '/v1/messages', 'the client query (alt=sse) is not passed on');
    assert.equal(seen.body!.stream, true);
  });

  it('generateContent against an OpenAI channel; function declarations become tools', async () => {
    const r = await client().models.generateContent({
      model: 'gpt-4o', contents: 'Weather?',
      config: {
        tools: [{
          functionDeclarations: [{ name: 'weather', description: 'd', parametersJsonSchema: { type: 'object' } }],
        }],
      },
    });
    assert.equal(r.text, 'Hello from oa');
    const seen = oa.requests.at(-1)!;
    assert.equal(seen.path, '/v1/chat/completions');
    assert.equal(seen.body!.model, 'gpt-4o');
    assert.deepEqual(seen.body!.tools, [
      { type: 'function', function: { name: 'weather', description: 'd', parameters: { type: 'object' } } },
    ]);
  });

  it('countTokens: counted locally for an OpenAI model, a 400 for a family without a tokenizer', async () => {
    const r = await client().models.countTokens({ model: 'gpt-4o', contents: 'Hello there' });
    assert.ok(typeof r.totalTokens === 'number' && r.totalTokens > 0);
    const body = { contents: [{ parts: [{ text: 'x' }] }] };
    const url = `${gw.url}/v1beta/models/claude-sonnet-4:countTokens`;
    const raw = await post(url, body, { 'x-goog-api-key': 'tg-team' });
    assert.equal(raw.status, 400);
    assert.equal(raw.json().error.status, 'INVALID_ARGUMENT');
    assert.match(raw.json().error.message, /no local tokenizer/);
  });

  it('errors come in Gemini\'s shape: an unknown key, a built-in tool', async () => {
    const url = `${gw.url}/v1beta/models/gpt-4o:generateContent`;
    const denied = await post(url, { contents: [] }, { 'x-goog-api-key': 'bad' });
    assert.equal(denied.status, 401);
    assert.equal(denied.json().error.status, 'UNAUTHENTICATED');
    const body = { contents: [{ role: 'user', parts: [{ text: 'x' }] }], tools: [{ googleSearch: {} }] };
    const refused = await post(`${gw.url}/v1beta/models/gpt-4o:generateContent`, body, { 'x-goog-api-key': 'tg-team' });
    assert.equal(refused.status, 400);
    assert.equal(refused.json().error.param, '$.tools[0]');
    assert.match(refused.json().error.message, /functionDeclarations/);
  });
});
