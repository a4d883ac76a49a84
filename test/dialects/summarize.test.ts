import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarizeRequest } from '../../src/dialects/index.js';
import { JsonBodyError } from '../../src/errors.js';
import { anthropicRequest, buf, openAIChatRequest } from '../fixtures/pool/bodies.js';

function problemOf(fn: () => unknown): JsonBodyError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof JsonBodyError, `expected JsonBodyError, got ${String(err)}`);
    assert.equal(err.code, 'TG_ERR_JSON_BODY');
    return err;
  }
  assert.fail('expected a JsonBodyError');
}

describe('summarizeRequest: good bodies', () => {
  it('OpenAI chat: model, stream, session, message count (system excluded), token estimate', () => {
    const s = summarizeRequest('openai-chat', buf(openAIChatRequest), 'user');
    assert.equal(s.model, 'gpt-4o');
    assert.equal(s.stream, true);
    assert.equal(s.sessionId, 'session-42');
    assert.equal(s.messageCount, 5);
    const chars = 'You are terse.'.length + 'What is the weather in Paris?'.length + '{"city":"Paris"}'.length
      + 'sunny, 21C'.length + 'Sunny and 21C.'.length + 'And this picture?'.length;
    assert.equal(s.estimatedPromptTokens, Math.ceil(chars / 4));
  });

  it('Anthropic messages: nested session field, stream false, system counted in tokens', () => {
    const s = summarizeRequest('anthropic-messages', buf(anthropicRequest), 'metadata.user_id');
    assert.equal(s.model, 'claude-sonnet-4');
    assert.equal(s.stream, false);
    assert.equal(s.sessionId, 'user-7');
    assert.equal(s.messageCount, 5);
    const chars = 'You are terse.'.length + 'Look up the weather.'.length + 'Checking.'.length
      + 'snow'.length + 'Snowing in Oslo.'.length + 'Thanks!'.length;
    assert.equal(s.estimatedPromptTokens, Math.ceil(chars / 4));
  });

  it('no session field configured → sessionId null; missing field → null', () => {
    assert.equal(summarizeRequest('openai-chat', buf(openAIChatRequest), null).sessionId, null);
    assert.equal(summarizeRequest('openai-chat', buf(openAIChatRequest), 'metadata.nope').sessionId, null);
  });

  it('completions and embeddings: strings and token arrays', () => {
    const c = summarizeRequest(
      'openai-completions', buf({ model: 'gpt-3.5-turbo-instruct', prompt: ['abcd', 'efgh'] }), null,
    );
    assert.deepEqual(
      c,
      { model: 'gpt-3.5-turbo-instruct', stream: false, sessionId: null, messageCount: 2, estimatedPromptTokens: 2 },
    );
    const e = summarizeRequest(
      'openai-embeddings', buf({ model: 'text-embedding-3-small', input: [[1, 2, 3], [4, 5]] }), null,
    );
    assert.equal(e.messageCount, 2);
    assert.equal(e.estimatedPromptTokens, 5);
    const one = summarizeRequest('openai-embeddings', buf({ model: 'm', input: [7, 8, 9] }), null);
    assert.equal(one.messageCount, 1);
    assert.equal(one.estimatedPromptTokens, 3);
  });

  it('accepts a UTF-8 BOM and multi-byte text', () => {
    const body = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]), buf({ model: 'm', messages: [{ role: 'user', content: '你好，世界' }] }),
    ]);
    const s = summarizeRequest('openai-chat', body, null);
    assert.equal(s.messageCount, 1);
    assert.equal(s.estimatedPromptTokens, 2);
  });

  it('accepts deep nesting in fields it does not walk (V8 parses iteratively)', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const body = Buffer.from(`{"model":"m","messages":[{"role":"user","content":"x"}],"metadata":${deep}}`);
    assert.equal(summarizeRequest('openai-chat', body, null).model, 'm');
  });
});

describe('summarizeRequest: bad bodies', () => {
  it('malformed JSON → syntax problem with the byte position', () => {
    const e = problemOf(() => summarizeRequest('openai-chat', Buffer.from('{"model":"m",}'), null));
    assert.equal(e.problem, 'syntax');
    assert.equal(e.position, 13);
    assert.match(e.message, /at byte 13/);
  });

  it('syntax position counts bytes, not characters, after multi-byte text', () => {
    const e = problemOf(() => summarizeRequest('openai-chat', Buffer.from('{"model":"é",}'), null));
    assert.equal(e.position, 14);
  });

  it('truncated body (half a request) → syntax problem at the end', () => {
    const whole = buf(openAIChatRequest);
    const half = whole.subarray(0, 40);
    const e = problemOf(() => summarizeRequest('openai-chat', half, null));
    assert.equal(e.problem, 'syntax');
    assert.equal(e.position, 40);
  });

  it('empty body', () => {
    const e = problemOf(() => summarizeRequest('openai-chat', Buffer.alloc(0), null));
    assert.equal(e.problem, 'syntax');
    assert.equal(e.position, 0);
  });

  it('invalid UTF-8 → utf8 problem at the first bad byte', () => {
    const body = Buffer.concat([Buffer.from('{"model":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    const e = problemOf(() => summarizeRequest('openai-chat', body, null));
    assert.equal(e.problem, 'utf8');
    assert.equal(e.position, 10);
    const surrogate = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]);
    assert.equal(problemOf(() => summarizeRequest('openai-chat', surrogate, null)).position, 6);
    const overlong = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]);
    assert.equal(problemOf(() => summarizeRequest('openai-chat', overlong, null)).position, 6);
  });

  type Dialect = 'openai-chat' | 'anthropic-messages' | 'openai-completions' | 'openai-embeddings';
  const shapes: [string, Dialect, unknown, string][] = [
    ['top level is an array', 'openai-chat', [1, 2], '$'],
    ['model missing', 'openai-chat', { messages: [{ role: 'user', content: 'x' }] }, '$.model'],
    ['model empty', 'openai-chat', { model: '', messages: [{ role: 'user', content: 'x' }] }, '$.model'],
    ['messages not an array', 'openai-chat', { model: 'm', messages: {} }, '$.messages'],
    ['messages empty', 'openai-chat', { model: 'm', messages: [] }, '$.messages'],
    [
      'unknown role', 'openai-chat',
      { model: 'm', messages: [{ role: 'user', content: 'x' }, { role: 'robot', content: 'y' }] }, '$.messages[1].role',
    ],
    [
      'user content a number', 'openai-chat',
      { model: 'm', messages: [{ role: 'user', content: 5 }] }, '$.messages[0].content',
    ],
    [
      'text part without text', 'openai-chat',
      { model: 'm', messages: [{ role: 'user', content: [{ type: 'text' }] }] }, '$.messages[0].content[0].text',
    ],
    [
      'tool call without arguments', 'openai-chat',
      {
        model: 'm',
        messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', function: { name: 'f' } }] }],
      },
      '$.messages[0].tool_calls[0].function.arguments',
    ],
    [
      'tool message without id', 'openai-chat',
      { model: 'm', messages: [{ role: 'tool', content: 'r' }] }, '$.messages[0].tool_call_id',
    ],
    [
      'stream not boolean', 'openai-chat',
      { model: 'm', stream: 'yes', messages: [{ role: 'user', content: 'x' }] }, '$.stream',
    ],
    [
      'anthropic max_tokens missing', 'anthropic-messages',
      { model: 'c', messages: [{ role: 'user', content: 'x' }] }, '$.max_tokens',
    ],
    [
      'anthropic system role in messages', 'anthropic-messages',
      { model: 'c', max_tokens: 5, messages: [{ role: 'system', content: 'x' }] }, '$.messages[0].role',
    ],
    [
      'anthropic block without type', 'anthropic-messages',
      { model: 'c', max_tokens: 5, messages: [{ role: 'user', content: [{ text: 'x' }] }] },
      '$.messages[0].content[0].type',
    ],
    [
      'anthropic tool_use input not object', 'anthropic-messages',
      {
        model: 'c', max_tokens: 5,
        messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'n', input: 'x' }] }],
      },
      '$.messages[0].content[0].input',
    ],
    ['completions prompt a number', 'openai-completions', { model: 'm', prompt: 5 }, '$.prompt'],
    ['embeddings mixed input', 'openai-embeddings', { model: 'm', input: ['a', 3] }, '$.input[1]'],
  ];
  for (const [name, dialect, body, path] of shapes) {
    it(`wrong shape: ${name} → ${path}`, () => {
      const e = problemOf(() => summarizeRequest(dialect, buf(body), null));
      assert.equal(e.problem, 'shape');
      assert.equal(e.path, path);
      assert.equal(e.position, null);
      assert.ok(e.message.startsWith(`${path}: expected`), e.message);
    });
  }

  it('deep nesting inside a walked field is a shape error, not a crash', () => {
    const deep = '['.repeat(50_000) + ']'.repeat(50_000);
    const e = problemOf(() => summarizeRequest(
      'openai-chat', Buffer.from(`{"model":"m","messages":[{"role":"user","content":${deep}}]}`), null,
    ));
    assert.equal(e.path, '$.messages[0].content[0]');
  });
});
