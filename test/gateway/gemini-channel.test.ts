import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { withGateway } from '../helpers/gateway.js';
import { listenHttp, type TestHttpServer } from '../helpers/listen.js';

interface Seen { url: string; key: unknown; body: Record<string, unknown>; raw: string }

const USAGE = { promptTokenCount: 8, candidatesTokenCount: 3, totalTokenCount: 11 };

/** A Gemini upstream: text, or a function call when tools are declared and the last turn is the user's text. */
function answerGemini(seen: Seen[], req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks).toString();
    const body = JSON.parse(raw) as Record<string, unknown>;
    seen.push({ url: req.url ?? '', key: req.headers['x-goog-api-key'], body, raw });
    const base = { modelVersion: 'gemini-2.5-flash-001', responseId: 'r1' };
    const contents = body.contents as { parts: Record<string, unknown>[] }[];
    const call = Array.isArray(body.tools) && typeof contents.at(-1)!.parts[0]!.text === 'string';
    const parts = call ? [{ functionCall: { name: 'weather', args: { city: 'Oslo' } } }] : [{ text: 'Hello from gm' }];
    if (!(req.url ?? '').includes(':streamGenerateContent')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      const candidates = [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }];
      res.end(JSON.stringify({ candidates, usageMetadata: USAGE, ...base }));
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
    res.end(`data: ${JSON.stringify({ ...last, usageMetadata: USAGE, ...base })}\r\n\r\n`);
  });
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
          modelMap: { flash: 'gemini-2.5-flash' },
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
});
