import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { withGateway, type UsageRecord } from '../helpers/gateway.js';
import { eventually } from '../helpers/wait.js';
import { listenHttp, type TestHttpServer } from '../helpers/listen.js';

interface Seen { url: string; key: unknown; body: Record<string, unknown>; raw: string }

const USAGE = { promptTokenCount: 8, candidatesTokenCount: 3, totalTokenCount: 11 };
/** The usage of answers to a `cached` model: 5 of the prompt's tokens read from the cache, 2 thought tokens. */
const CACHED_USAGE = {
  promptTokenCount: 8, cachedContentTokenCount: 5, candidatesTokenCount: 3, thoughtsTokenCount: 2, totalTokenCount: 13,
};

/** A Gemini upstream: text, or a function call when tools are declared and the last turn is the user's text. */
function answerGemini(seen: Seen[], req: IncomingMessage, res: ServerResponse): void {
  if (req.method === 'GET') {
    listGeminiModels(req, res);
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks).toString();
    const body = JSON.parse(raw) as Record<string, unknown>;
    seen.push({ url: req.url ?? '', key: req.headers['x-goog-api-key'], body, raw });
    const base = { modelVersion: 'gemini-2.5-flash-001', responseId: 'r1' };
    if ((req.url ?? '').includes(':countTokens')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ totalTokens: 42, cachedContentTokenCount: 0 }));
      return;
    }
    const usage = (req.url ?? '').includes('/cached') ? CACHED_USAGE : USAGE;
    const contents = body.contents as { parts: Record<string, unknown>[] }[];
    const call = Array.isArray(body.tools) && typeof contents.at(-1)!.parts[0]!.text === 'string';
    const parts = call ? [{ functionCall: { name: 'weather', args: { city: 'Oslo' } } }] : [{ text: 'Hello from gm' }];
    if (!(req.url ?? '').includes(':streamGenerateContent')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      const candidates = [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }];
      res.end(JSON.stringify({ candidates, usageMetadata: usage, ...base }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const pieces: unknown[][] = call ? [parts] : [[{ text: 'Hello' }], [{ text: ' from gm' }]];
    for (const p of pieces) {
      const chunk = { candidates: [{ content: { role: 'model', parts: p }, index: 0 }], ...base };
      res.write(`data: ${JSON.stringify(chunk)}\r\n\r\n`);
    }
    const end = { content: { role: 'model', parts: [{ text: '' }] }, finishReason: 'STOP', index: 0 };
    const last = { candidates: [end] };
    res.end(`data: ${JSON.stringify({ ...last, usageMetadata: usage, ...base })}\r\n\r\n`);
  });
}

/** GET /v1beta/models, one name a page (nextPageToken), as Gemini lists them (`models/` prefixed). */
function listGeminiModels(req: IncomingMessage, res: ServerResponse): void {
  const names = ['gemini-2.5-flash', 'gemini-2.5-pro'];
  const token = new URL(req.url ?? '/', 'http://x').searchParams.get('pageToken');
  const i = token === null ? 0 : Number(token);
  const body: Record<string, unknown> = { models: [{ name: `models/${names[i]}`, displayName: names[i] }] };
  if (i + 1 < names.length) body.nextPageToken = String(i + 1);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

describe('gateway: kind: gemini channels', () => {
  const seen: Seen[] = [];
  let gemini: TestHttpServer;
  before(async () => {
    gemini = await listenHttp((req, res) => answerGemini(seen, req, res));
  });
  after(() => gemini.close());
  const gw = withGateway({
    gateway: () => ({
      channels: [
        {
          name: 'gm', kind: 'gemini', baseUrl: gemini.origin, keys: ['g-key'],
          modelMap: { flash: 'gemini-2.5-flash' }, modelsRefresh: '1s',
        },
      ],
    }),
  });

  it('a modelMap key from a Gemini client: the mapped name goes into the upstream URL, body unchanged', async () => {
    const client = new GoogleGenAI({ apiKey: 'none', httpOptions: { baseUrl: gw.url } });
    const r = await client.models.generateContent({ model: 'flash', contents: 'Hi' });
    assert.equal(r.text, 'Hello from gm');
    const s = seen.at(-1)!;
    assert.equal(s.url, '/v1beta/models/gemini-2.5-flash:generateContent');
    assert.deepEqual(s.body.contents, [{ role: 'user', parts: [{ text: 'Hi' }] }]);
  });

  it('an OpenAI chat client: the request becomes generateContent, the answer a chat.completion', async () => {
    const client = new OpenAI({ apiKey: 'none', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const r = await client.chat.completions.create({
      model: 'gemini-2.5-flash', max_tokens: 50,
      messages: [{ role: 'system', content: 'Be brief' }, { role: 'user', content: 'Hi' }],
    });
    assert.equal(r.choices[0]!.message.content, 'Hello from gm');
    assert.equal(r.choices[0]!.finish_reason, 'stop');
    assert.equal(r.usage?.total_tokens, 11);
    const s = seen.at(-1)!;
    assert.equal(s.url, '/v1beta/models/gemini-2.5-flash:generateContent');
    assert.equal(s.key, 'g-key');
    assert.deepEqual(s.body, {
      systemInstruction: { parts: [{ text: 'Be brief' }] }, contents: [{ role: 'user', parts: [{ text: 'Hi' }] }],
      generationConfig: { maxOutputTokens: 50 },
    });
  });

  it('an OpenAI chat client, streamed, with a tool: the call arrives whole as one tool_calls delta', async () => {
    const client = new OpenAI({ apiKey: 'none', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'gemini-2.5-flash', stream: true, messages: [{ role: 'user', content: 'Weather in Oslo?' }],
      tools: [{ type: 'function', function: { name: 'weather', parameters: { type: 'object' } } }],
    });
    let args = '';
    let name = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      const d = chunk.choices[0];
      for (const tc of d?.delta.tool_calls ?? []) {
        name += tc.function?.name ?? '';
        args += tc.function?.arguments ?? '';
      }
      finish = d?.finish_reason ?? finish;
    }
    assert.equal(name, 'weather');
    assert.deepEqual(JSON.parse(args), { city: 'Oslo' });
    assert.equal(finish, 'tool_calls');
    const s = seen.at(-1)!;
    assert.equal(s.url, '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    const declarations = [{ name: 'weather', parametersJsonSchema: { type: 'object' } }];
    assert.deepEqual(s.body.tools, [{ functionDeclarations: declarations }]);
  });

  it('an Anthropic client, streamed: text blocks and the usage', async () => {
    const client = new Anthropic({ apiKey: 'none', baseURL: gw.url, maxRetries: 0 });
    const final = await client.messages.stream({
      model: 'gemini-2.5-flash', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }],
    }).finalMessage();
    assert.deepEqual(final.content.map((b) => (b.type === 'text' ? b.text : b.type)), ['Hello from gm']);
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(final.usage.output_tokens, 3);
  });

  it('a Gemini client: the body passes through unchanged, streamed or not', async () => {
    const client = new GoogleGenAI({ apiKey: 'none', httpOptions: { baseUrl: gw.url } });
    const r = await client.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hi' });
    assert.equal(r.text, 'Hello from gm');
    const plain = seen.at(-1)!;
    assert.equal(plain.url, '/v1beta/models/gemini-2.5-flash:generateContent');
    assert.equal(plain.key, 'g-key');
    assert.deepEqual(plain.body.contents, [{ role: 'user', parts: [{ text: 'Hi' }] }]);
    let text = '';
    for await (const c of await client.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Hi' })) {
      text += c.text ?? '';
    }
    assert.equal(text, 'Hello from gm');
    assert.equal(seen.at(-1)!.url, '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
  });

  it('a Gemini client: pass-through usage is booked from usageMetadata, streamed or not', async () => {
    const client = new GoogleGenAI({ apiKey: 'none', httpOptions: { baseUrl: gw.url } });
    await client.models.generateContent({ model: 'cached', contents: 'Hi' });
    let row = await lastRow(gw.usage, 'cached');
    assert.equal(row.promptTokens, 8);
    assert.equal(row.completionTokens, 5);
    assert.equal(row.cacheReadTokens, 5);
    assert.equal(row.inputTokens, 3);
    assert.equal(row.reasoningTokens, 2);
    assert.equal(row.outputTokens, 3);
    assert.equal(row.estimated, false);
    const before = gw.usage.length;
    for await (const c of await client.models.generateContentStream({ model: 'cached', contents: 'Hi' })) void c;
    row = await lastRow(gw.usage, 'cached', before);
    assert.equal(row.promptTokens, 8);
    assert.equal(row.completionTokens, 5);
    assert.equal(row.cacheReadTokens, 5);
    assert.equal(row.reasoningTokens, 2);
    assert.equal(row.estimated, false);
  });

  it('cached and thought tokens of a Gemini stream reach the client in its own usage fields', async () => {
    const openai = new OpenAI({ apiKey: 'none', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const stream = await openai.chat.completions.create({
      model: 'cached', stream: true, stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'Hi' }],
    });
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    assert.equal(usage?.prompt_tokens, 8);
    assert.equal(usage?.completion_tokens, 5);
    assert.equal(usage?.prompt_tokens_details?.cached_tokens, 5);
    assert.equal(usage?.completion_tokens_details?.reasoning_tokens, 2);
    const anthropic = new Anthropic({ apiKey: 'none', baseURL: gw.url, maxRetries: 0 });
    const final = await anthropic.messages.stream({
      model: 'cached', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }],
    }).finalMessage();
    assert.equal(final.usage.input_tokens, 3);
    assert.equal(final.usage.cache_read_input_tokens, 5);
    assert.equal(final.usage.output_tokens, 5);
    const responses = new OpenAI({ apiKey: 'none', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    let done: OpenAI.Responses.Response | null = null;
    for await (const ev of await responses.responses.create({ model: 'cached', input: 'Hi', stream: true })) {
      if (ev.type === 'response.completed') done = ev.response;
    }
    assert.equal(done?.usage?.input_tokens, 8);
    assert.equal(done?.usage?.input_tokens_details.cached_tokens, 5);
    assert.equal(done?.usage?.output_tokens_details.reasoning_tokens, 2);
  });

  it('modelsRefresh: the Gemini channel\'s listed models (every page) appear in /v1beta/models', async () => {
    const client = new GoogleGenAI({ apiKey: 'none', httpOptions: { baseUrl: gw.url } });
    const names = await eventually(async () => {
      const out: string[] = [];
      for await (const m of await client.models.list()) out.push(m.name ?? '');
      return out;
    }, (n) => n.length === 3, 10_000, 'the fetched Gemini models');
    assert.deepEqual(names, ['models/flash', 'models/gemini-2.5-flash', 'models/gemini-2.5-pro']);
  });

  it('countTokens from a Gemini client is forwarded to the Gemini channel (its model mapped)', async () => {
    const client = new GoogleGenAI({ apiKey: 'none', httpOptions: { baseUrl: gw.url } });
    const r = await client.models.countTokens({ model: 'flash', contents: 'Hello there' });
    assert.equal(r.totalTokens, 42);
    const s = seen.at(-1)!;
    assert.equal(s.url, '/v1beta/models/gemini-2.5-flash:countTokens');
    assert.equal(s.key, 'g-key');
    assert.deepEqual(s.body.contents, [{ role: 'user', parts: [{ text: 'Hello there' }] }]);
  });
});

/** The newest usage row for `model` after the first `from` rows (rows are booked just after the answer ends). */
async function lastRow(rows: readonly UsageRecord[], model: string, from = 0): Promise<UsageRecord> {
  const row = await eventually(() => rows.slice(from).reverse().find((r) => r.model === model), (r) => r !== undefined);
  return row!;
}
