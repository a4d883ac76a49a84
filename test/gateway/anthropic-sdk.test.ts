import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import type { RecordedRequest } from '../fixtures/llm-upstream.js';
import { channel, withGateway } from '../helpers/gateway.js';

/** A chat upstream's streamed turn: reasoning, then a weather call whose arguments arrive in two deltas. */
function reasonThenCall(rec: RecordedRequest, res: ServerResponse): void {
  const base = { id: 'chatcmpl-t', object: 'chat.completion.chunk', created: 1, model: rec.body?.model };
  const ev = (choice: unknown, extra: Record<string, unknown> = {}): string =>
    `data: ${JSON.stringify({ ...base, choices: choice === null ? [] : [choice], ...extra })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(ev({ index: 0, delta: { role: 'assistant', reasoning_content: 'Oslo is ' }, finish_reason: null }));
  res.write(ev({ index: 0, delta: { reasoning_content: 'in Norway.' }, finish_reason: null }));
  const call = { index: 0, id: 'call_w', type: 'function', function: { name: 'weather', arguments: '{"ci' } };
  res.write(ev({ index: 0, delta: { tool_calls: [call] }, finish_reason: null }));
  res.write(ev({ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: 'ty":"Oslo"}' } }] },
    finish_reason: null }));
  res.write(ev({ index: 0, delta: {}, finish_reason: 'tool_calls' }));
  res.write(ev(null, { usage: { prompt_tokens: 30, completion_tokens: 12, total_tokens: 42 } }));
  res.end('data: [DONE]\n\n');
}

describe('gateway: @anthropic-ai/sdk streamed thinking + tool use on a chat channel, two turns', () => {
  const gw = withGateway({
    upstreams: { oa: 'openai' },
    gateway: ({ oa }) => ({ channels: [channel(oa)] }),
  });

  it('thinking_delta and input_json_delta arrive as blocks; the tool result goes back as a tool message', async () => {
    const { oa } = gw.up;
    oa.script.push({ kind: 'custom', answer: reasonThenCall });
    const client = new Anthropic({ apiKey: 'none', baseURL: gw.url, maxRetries: 0 });
    const tools: Anthropic.Tool[] = [{
      name: 'weather', description: 'Weather by city', input_schema: { type: 'object', properties: { city: {} } },
    }];
    const question: Anthropic.MessageParam = { role: 'user', content: 'Weather in Oslo?' };
    const stream = client.messages.stream({
      model: 'gpt-4o', max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, tools,
      messages: [question],
    });
    let thinking = '';
    stream.on('thinking', (delta) => {
      thinking += delta;
    });
    const first = await stream.finalMessage();
    assert.equal(thinking, 'Oslo is in Norway.');
    assert.deepEqual(first.content.map((b) => b.type), ['thinking', 'tool_use']);
    const use = first.content[1] as Anthropic.ToolUseBlock;
    assert.equal(use.id, 'call_w');
    assert.equal(use.name, 'weather');
    assert.deepEqual(use.input, { city: 'Oslo' });
    assert.equal(first.stop_reason, 'tool_use');
    assert.equal(first.usage.output_tokens, 12);
    // The upstream got the thinking budget as an effort and the tool as a function.
    const sent = oa.requests.at(-1)!.body!;
    assert.equal(typeof sent.reasoning_effort, 'string');
    assert.equal((sent.tools as { function: { name: string } }[])[0]!.function.name, 'weather');

    const second = await client.messages.stream({
      model: 'gpt-4o', max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, tools,
      messages: [
        question,
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_w', content: '21C, sunny' }] },
      ],
    }).finalMessage();
    assert.deepEqual(second.content.map((b) => (b.type === 'text' ? b.text : b.type)), ['Hello from oa']);
    const turn = oa.requests.at(-1)!.body!.messages as Record<string, unknown>[];
    assert.deepEqual(turn.map((m) => m.role), ['user', 'assistant', 'tool']);
    assert.deepEqual(turn[1]!.tool_calls, [
      { id: 'call_w', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } },
    ]);
    assert.deepEqual(turn[2], { role: 'tool', tool_call_id: 'call_w', content: '21C, sunny' });
  });
});
