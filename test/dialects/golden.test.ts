import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { convertRequestBody, convertResponseBody } from '../../src/dialects/index.js';
import type { ChatDialect } from '../../src/dialects/types.js';
import { TokenUsage } from '../../src/gateway/response/usage.js';
import { streamConverter } from '../../src/gateway/sse/convert.js';
import { SseSplitter, parseSseEvent, type SseEvent } from '../../src/gateway/sse/splitter.js';

/*
 * Golden fixtures per pair of dialects (test/fixtures/dialects/): one rich conversation per client dialect (system,
 * tools and tool choice, parallel tool calls and their results, an image, thinking with a signature where the
 * dialect has it, stop sequences, max tokens), one rich answer per upstream dialect (thinking, text, two tool
 * calls, cached tokens), streamed and not. Each conversion must give its fixture byte for byte (timestamps
 * masked). TIDEGATE_UPDATE_GOLDEN=1 rewrites the fixtures after a deliberate change; review their diff.
 */

const DIR = fileURLToPath(new URL('../../../test/fixtures/dialects/', import.meta.url));
const UPDATE = process.env.TIDEGATE_UPDATE_GOLDEN === '1';

function golden(name: string, actual: string): void {
  const file = DIR + name;
  const masked = actual.replace(/"(created|created_at)":( ?)\d+/g, '"$1":$20');
  if (UPDATE || !existsSync(file)) {
    mkdirSync(DIR, { recursive: true });
    writeFileSync(file, masked);
    if (!UPDATE) assert.fail(`${name} did not exist: written, check it and run again`);
    return;
  }
  assert.equal(masked, readFileSync(file, 'utf8'), name);
}

function pretty(b: Buffer): string {
  return JSON.stringify(JSON.parse(b.toString('utf8')), null, 2) + '\n';
}

const WEATHER_SCHEMA = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };

const REQUESTS: Record<string, unknown> = {
  'openai-chat': {
    model: 'm', max_completion_tokens: 300, temperature: 0.3, top_p: 0.9, stop: ['END'], stream: true,
    reasoning_effort: 'medium', parallel_tool_calls: true, tool_choice: 'auto',
    tools: [{ type: 'function', function: { name: 'weather', description: 'Weather', parameters: WEATHER_SCHEMA } }],
    messages: [
      { role: 'system', content: 'Be terse.' },
      { role: 'user', content: [
        { type: 'text', text: 'Weather in Oslo and Rome? And this?' },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
      ] },
      { role: 'assistant', content: null, tool_calls: [
        { id: 'c1', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } },
        { id: 'c2', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } },
      ] },
      { role: 'tool', tool_call_id: 'c1', content: 'snow' },
      { role: 'tool', tool_call_id: 'c2', content: 'sun' },
    ],
  },
  'anthropic-messages': {
    model: 'm', max_tokens: 300, temperature: 0.3, stop_sequences: ['END'], stream: true,
    thinking: { type: 'enabled', budget_tokens: 4096 },
    system: [{ type: 'text', text: 'Be terse.', cache_control: { type: 'ephemeral' } }],
    tools: [{ name: 'weather', description: 'Weather', input_schema: WEATHER_SCHEMA }],
    tool_choice: { type: 'auto', disable_parallel_tool_use: false },
    messages: [
      { role: 'user', content: [
        { type: 'text', text: 'Weather in Oslo and Rome? And this?', cache_control: { type: 'ephemeral' } },
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
      ] },
      { role: 'assistant', content: [
        { type: 'thinking', thinking: 'Two cities.', signature: 'sig-1' },
        { type: 'tool_use', id: 'c1', name: 'weather', input: { city: 'Oslo' } },
        { type: 'tool_use', id: 'c2', name: 'weather', input: { city: 'Rome' } },
      ] },
      { role: 'user', content: [
        { type: 'tool_result', tool_use_id: 'c1', content: 'snow' },
        { type: 'tool_result', tool_use_id: 'c2', content: 'sun', is_error: false },
      ] },
    ],
  },
  'openai-responses': {
    model: 'm', instructions: 'Be terse.', max_output_tokens: 300, temperature: 0.3, stream: true, store: false,
    reasoning: { effort: 'medium', summary: 'auto' }, include: ['reasoning.encrypted_content'],
    tools: [{ type: 'function', name: 'weather', description: 'Weather', parameters: WEATHER_SCHEMA, strict: false }],
    tool_choice: 'auto', parallel_tool_calls: true,
    input: [
      { role: 'user', content: [
        { type: 'input_text', text: 'Weather in Oslo and Rome? And this?' },
        { type: 'input_image', image_url: 'data:image/png;base64,iVBORw0KGgo=' },
      ] },
      {
        type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'Two cities.' }],
        encrypted_content: 'sig-1',
      },
      { type: 'function_call', call_id: 'c1', name: 'weather', arguments: '{"city":"Oslo"}' },
      { type: 'function_call', call_id: 'c2', name: 'weather', arguments: '{"city":"Rome"}' },
      { type: 'function_call_output', call_id: 'c1', output: 'snow' },
      { type: 'function_call_output', call_id: 'c2', output: 'sun' },
    ],
  },
  'gemini-generate': {
    systemInstruction: { parts: [{ text: 'Be terse.' }] },
    generationConfig: {
      maxOutputTokens: 300, temperature: 0.3, topP: 0.9, stopSequences: ['END'],
      thinkingConfig: { thinkingBudget: 4096 },
    },
    tools: [{
      functionDeclarations: [{ name: 'weather', description: 'Weather', parametersJsonSchema: WEATHER_SCHEMA }],
    }],
    toolConfig: { functionCallingConfig: { mode: 'AUTO' } },
    contents: [
      { role: 'user', parts: [
        { text: 'Weather in Oslo and Rome? And this?' },
        { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
      ] },
      { role: 'model', parts: [
        { functionCall: { id: 'c1', name: 'weather', args: { city: 'Oslo' } } },
        { functionCall: { id: 'c2', name: 'weather', args: { city: 'Rome' } } },
      ] },
      { role: 'user', parts: [
        { functionResponse: { id: 'c1', name: 'weather', response: { result: 'snow' } } },
        { functionResponse: { id: 'c2', name: 'weather', response: { result: 'sun' } } },
      ] },
    ],
  },
};

const CLIENTS: readonly ChatDialect[] = ['openai-chat', 'anthropic-messages', 'openai-responses', 'gemini-generate'];
const UPSTREAMS: readonly ChatDialect[] = ['openai-chat', 'anthropic-messages', 'gemini-generate'];

const ANSWERS: Record<string, unknown> = {
  'openai-chat': {
    id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'm',
    choices: [{ index: 0, finish_reason: 'tool_calls', message: {
      role: 'assistant', reasoning_content: 'Two cities.', content: 'Checking.',
      tool_calls: [
        { id: 'c1', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } },
        { id: 'c2', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } },
      ],
    } }],
    usage: { prompt_tokens: 30, completion_tokens: 12, total_tokens: 42, prompt_tokens_details: { cached_tokens: 20 } },
  },
  'anthropic-messages': {
    id: 'msg_1', type: 'message', role: 'assistant', model: 'm', stop_reason: 'tool_use', stop_sequence: null,
    content: [
      { type: 'thinking', thinking: 'Two cities.', signature: 'sig-1' }, { type: 'text', text: 'Checking.' },
      { type: 'tool_use', id: 'c1', name: 'weather', input: { city: 'Oslo' } },
      { type: 'tool_use', id: 'c2', name: 'weather', input: { city: 'Rome' } },
    ],
    usage: { input_tokens: 10, output_tokens: 12, cache_read_input_tokens: 20 },
  },
  'gemini-generate': {
    responseId: 'r1', modelVersion: 'm',
    candidates: [{ index: 0, finishReason: 'STOP', content: { role: 'model', parts: [
      { text: 'Two cities.', thought: true }, { text: 'Checking.' },
      { functionCall: { id: 'c1', name: 'weather', args: { city: 'Oslo' } } },
      { functionCall: { id: 'c2', name: 'weather', args: { city: 'Rome' } } },
    ] } }],
    usageMetadata: { promptTokenCount: 30, candidatesTokenCount: 12, totalTokenCount: 42, cachedContentTokenCount: 20 },
  },
};

function sse(events: unknown[], named: boolean): string {
  return events.map((e) => {
    const data = typeof e === 'string' ? e : JSON.stringify(e);
    const name = named && typeof e === 'object' && e !== null ? `event: ${(e as { type: string }).type}\n` : '';
    return `${name}data: ${data}\n\n`;
  }).join('');
}

const chunk = (delta: unknown, finish: string | null = null): unknown => ({
  id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm',
  choices: [{ index: 0, delta, finish_reason: finish }],
});

const TOOL_BLOCK = (id: string): unknown => ({ type: 'tool_use', id, name: 'weather', input: {} });
const geminiChunk = (parts: unknown[]): unknown => ({
  responseId: 'r1', modelVersion: 'm', candidates: [{ index: 0, content: { role: 'model', parts } }],
});

const STREAMS: Record<string, string> = {
  'openai-chat': sse([
    chunk({ role: 'assistant', content: '' }), chunk({ reasoning_content: 'Two cities.' }),
    chunk({ content: 'Checking.' }),
    chunk({ tool_calls: [{ index: 0, id: 'c1', type: 'function', function: { name: 'weather', arguments: '' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":"Oslo"}' } }] }),
    chunk({
      tool_calls: [{ index: 1, id: 'c2', type: 'function', function: { name: 'weather', arguments: '{"city"' } }],
    }),
    chunk({ tool_calls: [{ index: 1, function: { arguments: ':"Rome"}' } }] }),
    chunk({}, 'tool_calls'),
    {
      id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [],
      usage: { prompt_tokens: 30, completion_tokens: 12, total_tokens: 42 },
    },
    '[DONE]',
  ], false),
  'anthropic-messages': sse([
    {
      type: 'message_start', message: {
        id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [],
        usage: { input_tokens: 10, output_tokens: 1, cache_read_input_tokens: 20 },
      },
    },
    { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Two cities.' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'sig-1' } },
    { type: 'content_block_stop', index: 0 },
    { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } },
    { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Checking.' } },
    { type: 'content_block_stop', index: 1 },
    { type: 'content_block_start', index: 2, content_block: TOOL_BLOCK('c1') },
    { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{"city":"Oslo"}' } },
    { type: 'content_block_stop', index: 2 },
    { type: 'content_block_start', index: 3, content_block: TOOL_BLOCK('c2') },
    { type: 'content_block_delta', index: 3, delta: { type: 'input_json_delta', partial_json: '{"city":"Rome"}' } },
    { type: 'content_block_stop', index: 3 },
    { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 12 } },
    { type: 'message_stop' },
  ], true),
  'gemini-generate': sse([
    geminiChunk([{ text: 'Two cities.', thought: true }]),
    geminiChunk([{ text: 'Checking.' }]),
    { responseId: 'r1', modelVersion: 'm', candidates: [{ index: 0, content: { role: 'model', parts: [
      { functionCall: { id: 'c1', name: 'weather', args: { city: 'Oslo' } } },
      { functionCall: { id: 'c2', name: 'weather', args: { city: 'Rome' } } },
    ] }, finishReason: 'STOP' }],
    usageMetadata: { promptTokenCount: 30, candidatesTokenCount: 12, totalTokenCount: 42 } },
  ], false),
};

/** Runs an upstream stream through the converter, split into 7-byte pieces (events cut anywhere). */
function convertStream(from: ChatDialect, to: ChatDialect, text: string): string {
  const converter = streamConverter(from, to, 'm');
  const usage = new TokenUsage();
  const event: SseEvent = { event: '', data: '' };
  let out = '';
  const sink = {
    onSseEvent(buf: Buffer, start: number, end: number): void {
      out += converter.onEvent(parseSseEvent(buf, start, end, event), usage);
    },
  };
  const splitter = new SseSplitter();
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += 7) splitter.feed(bytes.subarray(i, i + 7), sink);
  splitter.end(sink);
  const tail = converter.end(usage);
  assert.notEqual(tail, null, `${from} → ${to}: the stream was complete`);
  return out + tail;
}

describe('golden fixtures per pair of dialects', () => {
  for (const from of CLIENTS) {
    for (const to of UPSTREAMS) {
      if (from === to) continue;
      it(`request ${from} → ${to}`, () => {
        const inUrl = from === 'gemini-generate' ? { model: 'm', stream: true } : null;
        const body = Buffer.from(JSON.stringify(REQUESTS[from]));
        let out: string;
        try {
          out = pretty(convertRequestBody(from, to, body, inUrl));
        } catch (err) {
          out = `refused: ${(err as Error).message}\n`;
        }
        golden(`request.${from}.${to}.json`, out);
      });
    }
  }
  for (const from of UPSTREAMS) {
    for (const to of CLIENTS) {
      if (from === to) continue;
      it(`answer ${from} → ${to}`, () => {
        const answer = Buffer.from(JSON.stringify(ANSWERS[from]));
        golden(`answer.${from}.${to}.json`, pretty(convertResponseBody(from, to, answer)));
      });
      it(`stream ${from} → ${to}`, () => {
        golden(`stream.${from}.${to}.txt`, convertStream(from, to, STREAMS[from]!));
      });
    }
  }
});
