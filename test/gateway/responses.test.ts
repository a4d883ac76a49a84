import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { channel, withGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';
import { listenHttp, type TestHttpServer } from '../helpers/listen.js';

/** What a small upstream saw: path, parsed body and its exact bytes. */
interface Seen { path: string; body: Record<string, unknown>; raw: string }

const WEATHER_CALL = { id: 'call_w', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } };
const USAGE = { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25 };

function sse(v: unknown): string {
  return `data: ${JSON.stringify(v)}\n\n`;
}

/**
 * A Chat Completions upstream that calls the `weather` tool unless the last message is the tool's result, which it
 * then answers in text; or a native Responses upstream with a fixed answer. Both stream when asked.
 */
class SmallUpstream {
  readonly seen: Seen[] = [];
  private server: TestHttpServer | null = null;

  constructor(private readonly kind: 'chat-tools' | 'responses') {}

  async start(): Promise<void> {
    this.server = await listenHttp((req, res) => this.handle(req, res));
  }

  get baseUrl(): string {
    return `${this.server!.origin}/v1`;
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const body = JSON.parse(raw) as Record<string, unknown>;
      this.seen.push({ path: req.url ?? '', body, raw });
      if (this.kind === 'responses') answerResponses(body, res);
      else answerChat(body, res);
    });
  }
}

function answerChat(body: Record<string, unknown>, res: ServerResponse): void {
  const messages = body.messages as { role: string; content: unknown }[];
  const last = messages[messages.length - 1]!;
  const base = { id: 'chatcmpl-t', object: 'chat.completion.chunk', created: 1, model: body.model };
  const call = last.role !== 'tool';
  const finish = call ? 'tool_calls' : 'stop';
  if (body.stream !== true) {
    const message = call
      ? { role: 'assistant', content: null, tool_calls: [WEATHER_CALL] }
      : { role: 'assistant', content: `It is ${String(last.content)}.` };
    res.writeHead(200, { 'content-type': 'application/json' });
    const choices = [{ index: 0, message, finish_reason: finish }];
    res.end(JSON.stringify({ ...base, object: 'chat.completion', choices, usage: USAGE }));
    return;
  }
  const chunk = (delta: unknown, finishReason: string | null = null): string =>
    sse({ ...base, choices: [{ index: 0, delta, finish_reason: finishReason }] });
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(chunk({ role: 'assistant', content: '' }));
  if (call) {
    const fn = { name: 'weather', arguments: '' };
    res.write(chunk({ tool_calls: [{ index: 0, id: 'call_w', type: 'function', function: fn }] }));
    for (const piece of ['{"city"', ':"Oslo"}']) {
      res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] }));
    }
  } else {
    for (const piece of ['It is ', String(last.content), '.']) res.write(chunk({ content: piece }));
  }
  res.write(chunk({}, finish));
  const options = body.stream_options as { include_usage?: boolean } | undefined;
  if (options?.include_usage) res.write(sse({ ...base, choices: [], usage: USAGE }));
  res.end('data: [DONE]\n\n');
}

function answerResponses(body: Record<string, unknown>, res: ServerResponse): void {
  const content = [{ type: 'output_text', text: 'native answer', annotations: [] }];
  const response = {
    id: 'resp_native', object: 'response', created_at: 1, status: 'completed', model: body.model,
    output: [{ type: 'message', id: 'msg_n', status: 'completed', role: 'assistant', content }],
    usage: { input_tokens: 9, output_tokens: 2, total_tokens: 11 },
  };
  if (body.stream !== true) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(response));
    return;
  }
  const ev = (type: string, v: Record<string, unknown>, n: number): string =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: n, ...v })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(ev('response.created', { response: { ...response, status: 'in_progress', output: [], usage: null } }, 0));
  const delta = { item_id: 'msg_n', output_index: 0, content_index: 0, delta: 'native answer' };
  res.write(ev('response.output_text.delta', delta, 1));
  res.end(ev('response.completed', { response }, 2));
}

const WEATHER_PARAMETERS = { type: 'object', properties: { city: { type: 'string' } } };
const TOOLS: OpenAI.Responses.Tool[] = [{
  type: 'function', name: 'weather', description: 'Weather', strict: false, parameters: WEATHER_PARAMETERS,
}];

describe('gateway: the OpenAI Responses API (POST /v1/responses) through the official openai client', () => {
  const chat = new SmallUpstream('chat-tools');
  const native = new SmallUpstream('responses');
  before(async () => {
    await chat.start();
    await native.start();
  });
  after(async () => {
    await chat.close();
    await native.close();
  });
  const gw = withGateway({
    upstreams: { an: 'anthropic' },
    gateway: ({ an }) => ({
      channels: [
        { name: 'chat', kind: 'openai', baseUrl: chat.baseUrl, keys: ['sk-chat'], models: ['gpt-*'] },
        {
          name: 'native', kind: 'openai', baseUrl: native.baseUrl, keys: ['sk-n'], models: ['o-native'],
          responses: true,
        },
        channel(an, { models: ['claude-*'] }),
      ],
    }),
  });
  const { an } = gw.up;
  const client = (): OpenAI => new OpenAI({ apiKey: 'none', baseURL: `${gw.url}/v1`, maxRetries: 0 });

  it('responses.create (plain) against a chat-only upstream: converted both ways', async () => {
    const r = await client().responses.create({
      model: 'gpt-4o', instructions: 'Be terse.', input: 'What is the weather?', max_output_tokens: 64,
    });
    const seen = chat.seen.at(-1)!;
    assert.equal(seen.path, '/v1/chat/completions');
    assert.deepEqual(seen.body.messages, [
      { role: 'system', content: 'Be terse.' }, { role: 'user', content: 'What is the weather?' },
    ]);
    assert.equal(seen.body.max_tokens, 64);
    // The mock "calls" weather whatever the tools, so the answer is a function call.
    assert.equal(r.object, 'response');
    assert.equal(r.status, 'completed');
    const call = r.output.find((o) => o.type === 'function_call');
    assert.ok(call && call.type === 'function_call');
    assert.equal(call.call_id, 'call_w');
    assert.equal(call.arguments, '{"city":"Oslo"}');
    assert.equal(r.usage?.input_tokens, 20);
    assert.equal(r.usage?.output_tokens, 5);
  });

  it('a function call and its output, over two turns, non-streamed', async () => {
    const first = await client().responses.create({ model: 'gpt-4o', input: 'Weather in Oslo?', tools: TOOLS });
    const call = first.output.find((o) => o.type === 'function_call');
    assert.ok(call && call.type === 'function_call');
    assert.deepEqual((chat.seen.at(-1)!.body.tools as unknown[])[0], {
      type: 'function',
      function: { name: 'weather', description: 'Weather', parameters: WEATHER_PARAMETERS },
    });
    const second = await client().responses.create({
      model: 'gpt-4o', tools: TOOLS,
      input: [
        { role: 'user', content: 'Weather in Oslo?' }, call,
        { type: 'function_call_output', call_id: call.call_id, output: 'snowing' },
      ],
    });
    assert.equal(second.output_text, 'It is snowing.');
    const messages = chat.seen.at(-1)!.body.messages as Record<string, unknown>[];
    assert.deepEqual(messages.slice(1), [
      { role: 'assistant', content: null, tool_calls: [WEATHER_CALL] },
      { role: 'tool', tool_call_id: 'call_w', content: 'snowing' },
    ]);
  });

  it('streamed: the Responses event sequence, with function_call_arguments deltas, then text', async () => {
    const stream = await client().responses.create({ model: 'gpt-4o', input: 'Weather in Oslo?', stream: true });
    const types: string[] = [];
    let args = '';
    let done: OpenAI.Responses.Response | null = null;
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === 'response.function_call_arguments.delta') args += ev.delta;
      if (ev.type === 'response.completed') done = ev.response;
    }
    assert.equal(chat.seen.at(-1)!.body.stream, true);
    assert.deepEqual(chat.seen.at(-1)!.body.stream_options, { include_usage: true });
    assert.deepEqual(types, [
      'response.created', 'response.in_progress', 'response.output_item.added',
      'response.function_call_arguments.delta', 'response.function_call_arguments.delta',
      'response.function_call_arguments.done', 'response.output_item.done', 'response.completed',
    ]);
    assert.equal(args, '{"city":"Oslo"}');
    assert.ok(done);
    assert.deepEqual(done.output.map((o) => o.type), ['function_call']);
    assert.equal(done.usage?.total_tokens, 25);

    const text = await client().responses.create({
      model: 'gpt-4o', stream: true,
      input: [
        { type: 'function_call', call_id: 'call_w', name: 'weather', arguments: '{"city":"Oslo"}' },
        { type: 'function_call_output', call_id: 'call_w', output: 'sunny' },
      ],
    });
    const textTypes: string[] = [];
    let out = '';
    for await (const ev of text) {
      textTypes.push(ev.type);
      if (ev.type === 'response.output_text.delta') out += ev.delta;
    }
    assert.equal(out, 'It is sunny.');
    assert.deepEqual(textTypes, [
      'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
      'response.output_text.delta', 'response.output_text.delta', 'response.output_text.delta',
      'response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed',
    ]);
  });

  it('responses.stream() against an Anthropic upstream: finalResponse has the text', async () => {
    const final = await client().responses.stream({ model: 'claude-sonnet-4', input: 'hi' }).finalResponse();
    assert.equal(final.output_text, 'Hello from an');
    const seen = an.requests.at(-1)!;
    assert.equal(seen.path, '/v1/messages');
    assert.equal(seen.body!.stream, true);
    assert.deepEqual(seen.body!.messages, [{ role: 'user', content: 'hi' }]);
  });

  it('a channel marked responses: true gets the body unchanged (pass-through), streamed or not', async () => {
    const body = { model: 'o-native', input: 'hi', previous_response_id: 'resp_prev', store: true };
    const r = await client().responses.create(body);
    assert.equal(r.output_text, 'native answer');
    const seen = native.seen.at(-1)!;
    assert.equal(seen.path, '/v1/responses');
    assert.equal(seen.raw, JSON.stringify(body));
    const stream = await client().responses.create({ ...body, stream: true });
    let text = '';
    for await (const ev of stream) if (ev.type === 'response.output_text.delta') text += ev.delta;
    assert.equal(text, 'native answer');
  });

  it('an upstream that breaks mid-stream ends the Responses stream with an error event, never response.completed',
    async () => {
      an.script = [{ kind: 'reset-mid-body' }];
      const stream = await client().responses.create({ model: 'claude-sonnet-4', input: 'hi', stream: true });
      const types: string[] = [];
      let error: Record<string, unknown> | null = null;
      for await (const ev of stream) {
        types.push(ev.type);
        if (ev.type === 'error') error = ev as unknown as Record<string, unknown>;
      }
      assert.equal(types[0], 'response.created');
      assert.equal(types.at(-1), 'error');
      assert.ok(!types.includes('response.completed'));
      assert.match(String(error!.code), /^TG_ERR_/);
    });

  it('previous_response_id on a converted channel: a 400 that names it', async () => {
    const refused = client().responses.create({ model: 'gpt-4o', input: 'hi', previous_response_id: 'resp_1' });
    await assert.rejects(refused, (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      assert.match(err.message, /previous_response_id/);
      assert.match(err.message, /responses: true/);
      return true;
    });
    const builtin = { model: 'claude-x', input: 'hi', tools: [{ type: 'web_search' }] };
    const raw = await post(`${gw.url}/v1/responses`, builtin);
    assert.equal(raw.status, 400);
    assert.equal(raw.json().error.param, '$.tools[0].type');
  });
});
