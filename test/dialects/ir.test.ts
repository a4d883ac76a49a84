import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { convertRequestBody, convertResponseBody, decodeRequestBody } from '../../src/dialects/index.js';
import { JsonBodyError } from '../../src/errors.js';
import { anthropicRequest, buf, openAIChatRequest } from '../fixtures/pool/bodies.js';

const THINKING_AND_CALL = [
  { type: 'thinking', thinking: 'hmm', signature: 'sig==' }, { type: 'tool_use', id: 't1', name: 'f', input: {} },
];

function json(b: Buffer): Record<string, unknown> {
  return JSON.parse(b.toString('utf8')) as Record<string, unknown>;
}

describe('the intermediate representation', () => {
  it('Chat and Messages decode to the same IR for the same conversation', () => {
    const fromChat = decodeRequestBody('openai-chat', buf(openAIChatRequest));
    assert.deepEqual(fromChat.system, ['You are terse.']);
    assert.equal(fromChat.maxTokens, 512);
    assert.deepEqual(fromChat.messages.map((m) => m.role), ['user', 'assistant', 'user', 'assistant', 'user']);
    assert.deepEqual(fromChat.messages[1]!.content, [
      { type: 'tool_call', id: 'call_1', name: 'weather', input: { city: 'Paris' } },
    ]);
    assert.deepEqual(fromChat.messages[2]!.content, [
      { type: 'tool_result', id: 'call_1', content: 'sunny, 21C', isError: false, images: [], imagesAt: null },
    ]);
    const fromMessages = decodeRequestBody('anthropic-messages', buf(anthropicRequest));
    assert.deepEqual(fromMessages.toolChoice, { type: 'tool', name: 'weather' });
    assert.deepEqual(fromMessages.messages[4]!.content, [
      { type: 'text', text: 'Thanks!', cache: null },
      { type: 'image', url: null, mediaType: 'image/png', data: 'iVBORw0KGgo=' },
    ]);
  });

  it('same dialect never goes through the IR: bytes back unchanged, even with fields the IR does not model', () => {
    const body = Buffer.from('{"model":"m","messages":[{"role":"user","content":"hi"}],  "n":3,"seed":7}');
    const out = convertRequestBody('openai-chat', 'openai-chat', body);
    assert.equal(out.toString(), body.toString());
  });

  it('thinking with its signature and cache_control survive Messages → IR → Messages (via a Responses round)', () => {
    const body = buf({
      model: 'claude', max_tokens: 100, thinking: { type: 'enabled', budget_tokens: 2000 },
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'q', cache_control: { type: 'ephemeral' } }] },
        { role: 'assistant', content: THINKING_AND_CALL },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'r', is_error: true }] },
      ],
    });
    const ir = decodeRequestBody('anthropic-messages', body);
    assert.deepEqual(ir.reasoning, { effort: null, budget: 2000 });
    assert.deepEqual(ir.messages[1]!.content[0], { type: 'thinking', text: 'hmm', signature: 'sig==' });
    // Chat has no place for earlier reasoning; the effort maps by the documented table.
    const chat = json(convertRequestBody('anthropic-messages', 'openai-chat', body));
    assert.equal(chat.reasoning_effort, 'low');
    // A Responses client that got the signature in encrypted_content sends it back: it reaches Anthropic unchanged.
    const responses = buf({
      model: 'claude', max_output_tokens: 100, reasoning: { effort: 'medium' },
      input: [
        { role: 'user', content: [{ type: 'input_text', text: 'q' }] },
        { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'hmm' }], encrypted_content: 'sig==' },
        { type: 'function_call', call_id: 't1', name: 'f', arguments: '{}' },
        { type: 'function_call_output', call_id: 't1', output: 'r' },
      ],
    });
    const a = json(convertRequestBody('openai-responses', 'anthropic-messages', responses));
    assert.deepEqual(a.thinking, { type: 'enabled', budget_tokens: 4096 });
    assert.equal(a.max_tokens, 4196, 'max_tokens must exceed the thinking budget');
    assert.deepEqual(a.messages, [
      { role: 'user', content: [{ type: 'text', text: 'q' }] },
      { role: 'assistant', content: THINKING_AND_CALL },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'r' }] },
    ]);
    const back = json(convertRequestBody('anthropic-messages', 'anthropic-messages', body));
    const first = (back.messages as { content: unknown[] }[])[0]!.content[0];
    assert.deepEqual(first, { type: 'text', text: 'q', cache_control: { type: 'ephemeral' } });
  });

  it('a field the target cannot do is a 400 naming it, never a silent drop', () => {
    const format = { type: 'json_schema', json_schema: { name: 'r', schema: {} } };
    const chat = buf({ model: 'm', messages: [{ role: 'user', content: 'x' }], response_format: format });
    assert.throws(() => convertRequestBody('openai-chat', 'anthropic-messages', chat),
      (e: unknown) => e instanceof JsonBodyError && e.problem === 'unsupported' && e.path === '$.response_format');
    const prev = buf({ model: 'm', input: 'hi', previous_response_id: 'resp_1' });
    assert.throws(() => convertRequestBody('openai-responses', 'openai-chat', prev),
      (e: unknown) => e instanceof JsonBodyError && e.path === '$.previous_response_id'
        && /responses: true/.test(e.message));
    const builtin = buf({ model: 'm', input: 'hi', tools: [{ type: 'web_search' }] });
    assert.throws(() => convertRequestBody('openai-responses', 'anthropic-messages', builtin),
      (e: unknown) => e instanceof JsonBodyError && e.path === '$.tools[0].type');
  });

  it('a part the target has no counterpart for is a 400 naming it; redacted thinking is reasoning, left out', () => {
    const doc = { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } };
    const withDocument = buf({ model: 'c', max_tokens: 10, messages: [{ role: 'user', content: [doc] }] });
    assert.throws(() => convertRequestBody('anthropic-messages', 'openai-chat', withDocument),
      (e: unknown) => e instanceof JsonBodyError && e.problem === 'unsupported' && e.path === '$.messages[0].content[0]'
        && /"document"/.test(e.message));
    const audio = { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } };
    const withAudio = buf({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }, audio] }] });
    assert.throws(() => convertRequestBody('openai-chat', 'anthropic-messages', withAudio),
      (e: unknown) => e instanceof JsonBodyError && e.path === '$.messages[0].content[1]');
    const redacted = buf({
      model: 'c', max_tokens: 10,
      messages: [
        { role: 'user', content: 'q' },
        { role: 'assistant', content: [{ type: 'redacted_thinking', data: 'xyz' }, { type: 'text', text: 'a' }] },
        { role: 'user', content: 'again' },
      ],
    });
    const image = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } };
    const richResult = buf({
      model: 'c', max_tokens: 10,
      messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [image] }] }],
    });
    assert.throws(() => convertRequestBody('anthropic-messages', 'openai-chat', richResult),
      (e: unknown) => e instanceof JsonBodyError && e.path === '$.messages[0].content[0].content[0]');
    const chat = json(convertRequestBody('anthropic-messages', 'openai-chat', redacted));
    assert.deepEqual((chat.messages as unknown[])[1], { role: 'assistant', content: 'a' });
  });

  it('Responses → Chat: instructions, input items, function tools, text.format', () => {
    const body = buf({
      model: 'gpt-4o', instructions: 'Be terse.', stream: true, max_output_tokens: 50, store: false,
      input: [{ role: 'user', content: 'hi' }],
      tools: [{ type: 'function', name: 'f', description: 'd', parameters: { type: 'object' } }],
      tool_choice: 'required',
      text: { format: { type: 'json_schema', name: 'out', schema: { type: 'object' }, strict: true } },
    });
    assert.deepEqual(json(convertRequestBody('openai-responses', 'openai-chat', body)), {
      model: 'gpt-4o', messages: [{ role: 'system', content: 'Be terse.' }, { role: 'user', content: 'hi' }],
      max_tokens: 50, stream: true,
      tools: [{ type: 'function', function: { name: 'f', description: 'd', parameters: { type: 'object' } } }],
      tool_choice: 'required',
      response_format: { type: 'json_schema', json_schema: { name: 'out', schema: { type: 'object' }, strict: true } },
    });
  });

  it('answers encode to Responses: reasoning (signature in encrypted_content), message, calls, cached tokens', () => {
    const answer = buf({
      id: 'msg_1', type: 'message', role: 'assistant', model: 'claude', stop_reason: 'tool_use', stop_sequence: null,
      content: [
        { type: 'thinking', thinking: 't', signature: 's' }, { type: 'text', text: 'ok' },
        { type: 'tool_use', id: 'tu', name: 'f', input: { a: 1 } },
      ],
      usage: { input_tokens: 3, output_tokens: 2, cache_read_input_tokens: 10 },
    });
    const r = json(convertResponseBody('anthropic-messages', 'openai-responses', answer));
    assert.equal(r.object, 'response');
    assert.equal(r.status, 'completed');
    const output = r.output as Record<string, unknown>[];
    assert.deepEqual(output.map((o) => o.type), ['reasoning', 'message', 'function_call']);
    assert.equal(output[0]!.encrypted_content, 's');
    assert.deepEqual(output[2]!.arguments, '{"a":1}');
    assert.deepEqual(r.usage, {
      input_tokens: 13, input_tokens_details: { cached_tokens: 10 }, output_tokens: 2,
      output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 15,
    });
    const chat = json(convertResponseBody('anthropic-messages', 'openai-chat', answer));
    assert.deepEqual(chat.usage, {
      prompt_tokens: 13, completion_tokens: 2, total_tokens: 15, prompt_tokens_details: { cached_tokens: 10 },
    });
    const back = json(convertResponseBody('openai-chat', 'anthropic-messages', Buffer.from(JSON.stringify(chat))));
    assert.deepEqual(back.usage, { input_tokens: 3, output_tokens: 2, cache_read_input_tokens: 10 });
  });

  it('tool results with images: carried to Anthropic and Gemini, a 400 naming the image on Chat', () => {
    const png = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } };
    const call = { type: 'tool_use', id: 't1', name: 'shot', input: {} };
    const anthropic = buf({
      model: 'c', max_tokens: 10,
      messages: [
        { role: 'user', content: 'take a screenshot' },
        { role: 'assistant', content: [call] },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: 'ok' }, png] }],
        },
      ],
    });
    const gemini = json(convertRequestBody('anthropic-messages', 'gemini-generate', anthropic));
    const contents = gemini.contents as { parts: Record<string, unknown>[] }[];
    assert.deepEqual(contents[2]!.parts[0], {
      functionResponse: {
        id: 't1', name: 'shot', response: { result: 'ok' },
        parts: [{ inlineData: { mimeType: 'image/png', data: 'AAAA' } }],
      },
    });
    assert.throws(() => convertRequestBody('anthropic-messages', 'openai-chat', anthropic), (e: unknown) =>
      e instanceof JsonBodyError && e.path === '$.messages[2].content[0].content[1]'
      && /tool result's image has no counterpart on a Chat Completions channel/.test(e.message));

    const responses = buf({
      model: 'gpt-4o',
      input: [
        { role: 'user', content: 'look' },
        { type: 'function_call', call_id: 'c1', name: 'shot', arguments: '{}' },
        {
          type: 'function_call_output', call_id: 'c1',
          output: [
            { type: 'input_text', text: 'here' },
            { type: 'input_image', image_url: 'data:image/jpeg;base64,BBBB' },
            { type: 'input_image', image_url: 'https://example.com/a.png' },
          ],
        },
      ],
    });
    const messages = json(convertRequestBody('openai-responses', 'anthropic-messages', responses)).messages as {
      content: unknown;
    }[];
    assert.deepEqual(messages[2]!.content, [{
      type: 'tool_result', tool_use_id: 'c1',
      content: [
        { type: 'text', text: 'here' },
        { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: 'BBBB' } },
        { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
      ],
    }]);
    assert.throws(() => convertRequestBody('openai-responses', 'openai-chat', responses), (e: unknown) =>
      e instanceof JsonBodyError && e.path === '$.input[2].output[1]');
    const file = buf({
      model: 'gpt-4o',
      input: [{ type: 'function_call_output', call_id: 'c1', output: [{ type: 'input_file', file_id: 'f' }] }],
    });
    assert.throws(() => convertRequestBody('openai-responses', 'anthropic-messages', file), (e: unknown) =>
      e instanceof JsonBodyError && e.path === '$.input[0].output[0]' && /"input_file"/.test(e.message));

    const fromGemini = buf({
      contents: [
        { role: 'user', parts: [{ text: 'look' }] },
        { role: 'model', parts: [{ functionCall: { id: 'g1', name: 'shot', args: {} } }] },
        {
          role: 'user',
          parts: [{
            functionResponse: {
              id: 'g1', name: 'shot', response: { output: 'done' },
              parts: [{ inlineData: { mimeType: 'image/webp', data: 'CCCC' } }],
            },
          }],
        },
      ],
    });
    const back = json(convertRequestBody('gemini-generate', 'anthropic-messages', fromGemini)).messages as {
      content: unknown;
    }[];
    assert.deepEqual(back[2]!.content, [{
      type: 'tool_result', tool_use_id: 'g1',
      content: [
        { type: 'text', text: '{"output":"done"}' },
        { type: 'image', source: { type: 'base64', media_type: 'image/webp', data: 'CCCC' } },
      ],
    }]);

    const doc = buf({
      model: 'c', max_tokens: 10,
      messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [
        { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'x' } },
      ] }] }],
    });
    assert.throws(() => convertRequestBody('anthropic-messages', 'gemini-generate', doc), (e: unknown) =>
      e instanceof JsonBodyError && e.path === '$.messages[0].content[0].content[0]' && /"document"/.test(e.message));
  });
});
