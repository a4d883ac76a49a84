import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeRequestBody } from '../../src/dialects/index.js';
import { quote } from '../../src/dialects/decode.js';
import { ANTHROPIC_REQUEST } from '../../src/dialects/ir/anthropic.js';
import { CHAT_REQUEST } from '../../src/dialects/ir/chat.js';
import { plainRequestText } from '../../src/dialects/ir/plain-request.js';
import type { ChatDialect } from '../../src/dialects/types.js';

/*
 * The text encoders write JSON themselves; their bytes must be JSON.stringify's of what the object encoders build.
 * Plain requests are compared with the object encoders here; answers and streams are held by the golden fixtures.
 */

function buf(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v));
}

const AWKWARD = ['', 'plain', 'quote " and \\ backslash', 'line\nbreak\ttab\u0000\u001f', 'lone \ud800 surrogate',
  'pair 😀', '\u2028\u2029\u007f', 'é'.repeat(70), 'x'.repeat(64), 'x'.repeat(65) + '"'];

describe('JSON text written directly', () => {
  it('quote gives JSON.stringify of every code unit and of short and long strings', () => {
    for (let c = 0; c < 0x10000; c++) {
      const s = 'a' + String.fromCharCode(c) + 'b';
      assert.equal(quote(s), JSON.stringify(s));
    }
    for (const s of AWKWARD) assert.equal(quote(s), JSON.stringify(s));
  });

  it('plain requests are written as the Chat and Messages encoders would serialise them', () => {
    const bodies: [ChatDialect, unknown][] = [];
    for (const text of AWKWARD) {
      bodies.push(['openai-chat', {
        model: text || 'm', messages: [{ role: 'system', content: text }, { role: 'user', content: text }],
      }]);
      bodies.push(['openai-chat', {
        model: 'm', max_tokens: 9, temperature: 0, top_p: null, stop: 'END', stream: true, user: text,
        parallel_tool_calls: false,
        messages: [
          { role: 'developer', content: 'a' }, { role: 'system', content: '' }, { role: 'user', content: text },
          { role: 'assistant', content: text }, { role: 'user', content: 'again' },
        ],
      }]);
      bodies.push(['openai-responses', { model: 'm', instructions: text, input: text, stream: null }]);
      bodies.push(['openai-responses', {
        model: 'm', max_output_tokens: 5, temperature: 0.5, input: [
          { role: 'developer', content: text }, { role: 'user', content: text }, { role: 'user', content: 'b' },
        ],
      }]);
      bodies.push(['anthropic-messages', {
        model: 'm', max_tokens: 7, system: text, stop_sequences: ['x'], metadata: { user_id: text },
        messages: [
          { role: 'user', content: text }, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'go' },
        ],
      }]);
    }
    const targets = [['openai-chat', CHAT_REQUEST.encode], ['anthropic-messages', ANTHROPIC_REQUEST.encode]] as const;
    let written = 0;
    for (const [from, body] of bodies) {
      const ir = decodeRequestBody(from, buf(body));
      for (const [to, encode] of targets) {
        if (to === from) continue;
        const text = plainRequestText(to, ir);
        assert.notEqual(text, null, `${from} → ${to}: ${JSON.stringify(body)}`);
        assert.equal(text, JSON.stringify(encode(ir)), `${from} → ${to}: ${JSON.stringify(body)}`);
        written++;
      }
    }
    assert.ok(written >= bodies.length);
  });

  it('requests with parts, tools, reasoning or a response format are left to the object encoders', () => {
    const parts = decodeRequestBody('openai-chat', buf({
      model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
    }));
    const tools = decodeRequestBody('openai-chat', buf({
      model: 'm', messages: [{ role: 'user', content: 'hi' }],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
    }));
    const reasoning = decodeRequestBody('openai-chat', buf({
      model: 'm', reasoning_effort: 'low', messages: [{ role: 'user', content: 'hi' }],
    }));
    const format = decodeRequestBody('openai-chat', buf({
      model: 'm', response_format: { type: 'json_object' }, messages: [{ role: 'user', content: 'hi' }],
    }));
    for (const ir of [parts, tools, reasoning, format]) {
      assert.equal(plainRequestText('anthropic-messages', ir), null);
      assert.equal(plainRequestText('openai-chat', ir), null);
    }
    const plain = decodeRequestBody('openai-chat', buf({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }));
    assert.equal(plainRequestText('gemini-generate', plain), null);
  });
});
