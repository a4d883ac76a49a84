import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { convertRequestBody, convertResponseBody, DEFAULT_ANTHROPIC_MAX_TOKENS } from '../../src/dialects/index.js';
import { JsonBodyError } from '../../src/errors.js';
import {
  anthropicRequest, anthropicResponse, buf, openAIChatRequest, openAIResponse,
} from '../fixtures/pool/bodies.js';

function json(b: Buffer): unknown {
  return JSON.parse(b.toString('utf8'));
}

describe('request conversion', () => {
  it('OpenAI chat → Anthropic: system lifted, tool calls become tool_use, tool results a user turn', () => {
    const a = json(
      convertRequestBody('openai-chat', 'anthropic-messages', buf(openAIChatRequest)),
    ) as Record<string, unknown>;
    assert.equal(a.system, 'You are terse.');
    assert.equal(a.max_tokens, 512);
    assert.deepEqual(a.stop_sequences, ['END']);
    assert.deepEqual(a.metadata, { user_id: 'session-42' });
    assert.deepEqual(a.tool_choice, { type: 'auto' });
    const messages = a.messages as { role: string; content: unknown }[];
    assert.deepEqual(messages.map((m) => m.role), ['user', 'assistant', 'user', 'assistant', 'user']);
    assert.deepEqual(
      messages[1]!.content,
      [{ type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } }],
    );
    assert.deepEqual(messages[2]!.content, [{ type: 'tool_result', tool_use_id: 'call_1', content: 'sunny, 21C' }]);
    assert.deepEqual((messages[4]!.content as unknown[])[1], { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } });
    assert.deepEqual(a.tools, [{
      name: 'weather', description: 'Current weather',
      input_schema: { type: 'object', properties: { city: { type: 'string' } } },
    }]);
  });

  it('OpenAI → Anthropic → OpenAI round-trips', () => {
    const there = convertRequestBody('openai-chat', 'anthropic-messages', buf(openAIChatRequest));
    const back = json(convertRequestBody('anthropic-messages', 'openai-chat', there));
    assert.deepEqual(back, openAIChatRequest);
  });

  it('Anthropic → OpenAI → Anthropic round-trips', () => {
    const there = convertRequestBody('anthropic-messages', 'openai-chat', buf(anthropicRequest));
    const o = json(there) as { messages: { role: string }[] };
    assert.deepEqual(o.messages.map((m) => m.role), ['system', 'user', 'assistant', 'tool', 'assistant', 'user']);
    const back = json(convertRequestBody('openai-chat', 'anthropic-messages', there));
    assert.deepEqual(back, anthropicRequest);
  });

  it('missing max_tokens gets the Anthropic default', () => {
    const a = json(convertRequestBody(
      'openai-chat', 'anthropic-messages', buf({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    )) as { max_tokens: number };
    assert.equal(a.max_tokens, DEFAULT_ANTHROPIC_MAX_TOKENS);
  });

  it('same dialect: validated and returned unchanged', () => {
    const b = buf(anthropicRequest);
    assert.deepEqual(convertRequestBody('anthropic-messages', 'anthropic-messages', b), b);
    assert.throws(
      () => convertRequestBody('anthropic-messages', 'anthropic-messages', buf({ model: 'c', messages: [] })),
      JsonBodyError,
    );
  });

  it('tool call arguments that are not JSON → shape error with the path', () => {
    const body = buf({
      model: 'm',
      messages: [{
        role: 'assistant', content: null,
        tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{nope' } }],
      }],
    });
    assert.throws(
      () => convertRequestBody('openai-chat', 'anthropic-messages', body),
      (e: unknown) => e instanceof JsonBodyError && e.path === '$.messages[0].tool_calls[0].function.arguments',
    );
  });

  it('a value nested too deeply to serialise → depth error, not a crash', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const body = Buffer.from(
      '{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":'
      + `[{"type":"tool_use","id":"t","name":"n","input":{"x":${deep}}}]}]}`,
    );
    assert.throws(
      () => convertRequestBody('anthropic-messages', 'openai-chat', body),
      (e: unknown) => e instanceof JsonBodyError && e.problem === 'depth',
    );
  });

  it('bad input is validated against the source dialect', () => {
    assert.throws(
      () => convertRequestBody('openai-chat', 'anthropic-messages', Buffer.from('{"model":')),
      (e: unknown) => e instanceof JsonBodyError && e.problem === 'syntax',
    );
    assert.throws(
      () => convertRequestBody(
        'anthropic-messages', 'openai-chat', buf({ model: 'c', messages: [{ role: 'user', content: 'x' }] }),
      ),
      (e: unknown) => e instanceof JsonBodyError && e.path === '$.max_tokens',
    );
  });
});

describe('response conversion', () => {
  it('OpenAI → Anthropic: text + tool_use, finish reason, usage', () => {
    const a = json(convertResponseBody('openai-chat', 'anthropic-messages', buf(openAIResponse)));
    assert.deepEqual(a, {
      id: 'chatcmpl-1', type: 'message', role: 'assistant', model: 'gpt-4o',
      content: [
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'call_9', name: 'weather', input: { city: 'Rome' } },
      ],
      stop_reason: 'tool_use', stop_sequence: null, usage: { input_tokens: 12, output_tokens: 7 },
    });
  });

  it('OpenAI → Anthropic → OpenAI round-trips (except `created`, which Anthropic does not carry)', () => {
    const back = json(convertResponseBody(
      'anthropic-messages', 'openai-chat',
      convertResponseBody('openai-chat', 'anthropic-messages', buf(openAIResponse)),
    )) as Record<string, unknown>;
    assert.equal(typeof back.created, 'number');
    assert.deepEqual({ ...back, created: openAIResponse.created }, openAIResponse);
  });

  it('Anthropic → OpenAI → Anthropic round-trips', () => {
    const there = convertResponseBody('anthropic-messages', 'openai-chat', buf(anthropicResponse));
    const o = json(there) as {
      choices: { finish_reason: string; message: { content: string } }[]; usage: { total_tokens: number };
    };
    assert.equal(o.choices[0]!.finish_reason, 'length');
    assert.equal(o.choices[0]!.message.content, 'Hello there.');
    assert.equal(o.usage.total_tokens, 8);
    assert.deepEqual(json(convertResponseBody('openai-chat', 'anthropic-messages', there)), anthropicResponse);
  });

  it('error bodies are converted both ways', () => {
    const a = json(convertResponseBody(
      'openai-chat', 'anthropic-messages',
      buf({ error: { message: 'bad key', type: 'invalid_request_error', code: 'x' } }),
    ));
    assert.deepEqual(a, { type: 'error', error: { type: 'invalid_request_error', message: 'bad key' } });
    const o = json(convertResponseBody(
      'anthropic-messages', 'openai-chat', buf({ type: 'error', error: { type: 'overloaded_error', message: 'busy' } }),
    ));
    assert.deepEqual(o, { error: { message: 'busy', type: 'overloaded_error', param: null, code: null } });
  });

  it('wrong response shapes name the path', () => {
    assert.throws(
      () => convertResponseBody('openai-chat', 'anthropic-messages', buf({ choices: [] })),
      (e: unknown) => e instanceof JsonBodyError && e.path === '$.choices',
    );
    assert.throws(
      () => convertResponseBody('openai-chat', 'anthropic-messages', buf({ choices: [{ message: { content: 5 } }] })),
      (e: unknown) => e instanceof JsonBodyError && e.path === '$.choices[0].message.content',
    );
    assert.throws(
      () => convertResponseBody(
        'anthropic-messages', 'openai-chat', buf({ type: 'message', content: [{ type: 'text' }] }),
      ),
      (e: unknown) => e instanceof JsonBodyError && e.path === '$.content[0].text',
    );
    assert.throws(
      () => convertResponseBody('anthropic-messages', 'openai-chat', buf({ type: 'completion' })),
      (e: unknown) => e instanceof JsonBodyError && e.path === '$.type',
    );
  });
});

describe('request conversion details', () => {
  it('several system/developer messages join into one Anthropic system prompt; '
    + 'consecutive tool results share a user turn', () => {
    const body = buf({
      model: 'm',
      messages: [
        { role: 'system', content: 'one' },
        { role: 'developer', content: [{ type: 'text', text: 'two' }] },
        { role: 'user', content: 'q' },
        { role: 'assistant', content: null, tool_calls: [
          { id: 'a', type: 'function', function: { name: 'f', arguments: '{}' } },
          { id: 'b', type: 'function', function: { name: 'g', arguments: '' } },
        ] },
        { role: 'tool', tool_call_id: 'a', content: 'ra' },
        { role: 'tool', tool_call_id: 'b', content: 'rb' },
      ],
      tool_choice: { type: 'function', function: { name: 'f' } },
    });
    const a = json(convertRequestBody('openai-chat', 'anthropic-messages', body)) as {
      system: string; messages: { role: string; content: unknown }[]; tool_choice: unknown;
    };
    assert.equal(a.system, 'one\n\ntwo');
    assert.equal(a.messages.length, 3);
    assert.deepEqual(a.messages[1]!.content, [
      { type: 'tool_use', id: 'a', name: 'f', input: {} },
      { type: 'tool_use', id: 'b', name: 'g', input: {} },
    ]);
    assert.deepEqual(a.messages[2], { role: 'user', content: [
      { type: 'tool_result', tool_use_id: 'a', content: 'ra' },
      { type: 'tool_result', tool_use_id: 'b', content: 'rb' },
    ] });
    assert.deepEqual(a.tool_choice, { type: 'tool', name: 'f' });
  });

  it('Anthropic system as text blocks and base64 images become OpenAI system text and data URLs', () => {
    const body = buf({
      model: 'c', max_tokens: 10,
      system: [{ type: 'text', text: 'A' }, { type: 'text', text: 'B' }],
      messages: [{
        role: 'user',
        content: [{ type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: 'AAAA' } }],
      }],
      tool_choice: { type: 'any' },
    });
    const o = json(convertRequestBody('anthropic-messages', 'openai-chat', body)) as {
      messages: { role: string; content: unknown }[]; tool_choice: unknown;
    };
    assert.deepEqual(o.messages[0], { role: 'system', content: 'A\n\nB' });
    assert.deepEqual(
      o.messages[1],
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/jpeg;base64,AAAA' } }] },
    );
    assert.equal(o.tool_choice, 'required');
    const back = json(
      convertRequestBody('openai-chat', 'anthropic-messages', buf(o)),
    ) as { messages: { content: unknown }[] };
    assert.deepEqual(
      back.messages[0]!.content,
      [{ type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: 'AAAA' } }],
    );
  });

  it('tool-call arguments that are JSON but not an object are refused with the path', () => {
    const body = buf({
      model: 'm',
      messages: [{
        role: 'assistant', content: null,
        tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '[1]' } }],
      }],
    });
    assert.throws(
      () => convertRequestBody('openai-chat', 'anthropic-messages', body),
      (e: unknown) => e instanceof JsonBodyError && e.path === '$.messages[0].tool_calls[0].function.arguments',
    );
  });
});
