import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSseEvent, SseSplitter, type SseEvent } from '../../src/gateway/sse/splitter.js';
import { readUsage, TokenUsage } from '../../src/gateway/response/usage.js';

/** prompt, completion and total tokens as readUsage finds them in `body`. */
function scanned(body: Buffer): (number | null)[] {
  const usage = new TokenUsage();
  readUsage(body, usage);
  return [usage.prompt, usage.completion, usage.total];
}

function collect(chunks: Buffer[]): string[] {
  const splitter = new SseSplitter();
  const out: string[] = [];
  const sink = { onSseEvent(buf: Buffer, start: number, end: number) { out.push(buf.toString('utf8', start, end)); } };
  for (const c of chunks) splitter.feed(c, sink);
  splitter.end(sink);
  return out;
}

describe('gateway: SSE splitting and usage extraction', () => {
  const stream = 'event: a\ndata: {"x":1}\n\ndata: {"y":2}\r\n\r\ndata: [DONE]\n\n';

  it('splits LF and CRLF events, whole or cut at every byte', () => {
    const expected = ['event: a\ndata: {"x":1}', 'data: {"y":2}\r', 'data: [DONE]'];
    assert.deepEqual(collect([Buffer.from(stream)]), expected);
    const bytes = Buffer.from(stream);
    assert.deepEqual(collect([...bytes].map((b) => Buffer.from([b]))), expected);
    for (let cut = 1; cut < bytes.length; cut++) {
      assert.deepEqual(collect([bytes.subarray(0, cut), bytes.subarray(cut)]), expected, `cut at ${cut}`);
    }
  });

  it('a last event without its blank line is still delivered at the end', () => {
    assert.deepEqual(collect([Buffer.from('data: 1\n\ndata: 2\n')]), ['data: 1', 'data: 2']);
  });

  it('parses event names and joins multi-line data', () => {
    const ev: SseEvent = { event: '', data: '' };
    const buf = Buffer.from('event: message_delta\ndata: {"a":\ndata: 1}\r');
    parseSseEvent(buf, 0, buf.length, ev);
    assert.equal(ev.event, 'message_delta');
    assert.equal(ev.data, '{"a":\n1}');
  });

  it('reads the top-level usage object of a JSON tail, ignoring "usage" inside strings', () => {
    const body = Buffer.from(JSON.stringify({
      choices: [{ message: { content: 'the "usage": {"prompt_tokens": 999} trick' } }],
      usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
    }));
    assert.deepEqual(scanned(body), [3, 4, 7]);
    assert.deepEqual(
      scanned(Buffer.from('{"usage": {"prompt_tokens": 1')), [null, null, null], 'cut off: nothing read',
    );
    assert.deepEqual(scanned(Buffer.from('{"no":"tokens"}')), [null, null, null]);
    assert.deepEqual(
      scanned(Buffer.from('{"a":{"usage":{"prompt_tokens":2,"completion_tokens":1}},"usage":{"prompt_tokens":9')),
      [2, 1, null],
      'the last one cut off: the one before it');
    const far = JSON.stringify({
      usage: { prompt_tokens: 5, completion_tokens: 6, total_tokens: 11 }, choices: [{ text: 'x'.repeat(1000) }],
    });
    assert.deepEqual(scanned(Buffer.from(far)), [5, 6, 11], 'far from the end');
    assert.deepEqual(scanned(Buffer.from(far.replace('"usage"', '"usagf"'))), [null, null, null], 'none anywhere');
  });

  it('reads usage objects in place exactly as a parse of them would', () => {
    const usages: unknown[] = [
      {},
      { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42 },
      // OpenAI's detail objects and arrays are skipped, not mistaken for the top-level counts.
      {
        prompt_tokens: 1200, completion_tokens: 8, total_tokens: 1208,
        prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0, accepted_prediction_tokens: 0, total_tokens: 5 },
        list: [1, [2, { total_tokens: 9 }]],
      },
      {
        input_tokens: 10, cache_creation_input_tokens: 5, cache_read_input_tokens: 90, output_tokens: 7,
        service_tier: 'standard', server_tool_use: null, flag: true,
      },
      { output_tokens: 3 },
      { prompt_tokens: 0, completion_tokens: 0 },
      { prompt_tokens: 2.5, completion_tokens: 1e3, total_tokens: -1 },
      { prompt_tokens: 3, total_tokens: -1 },
      // Beyond 2^53: the nearest double, written exactly (a parse of the text gives the same).
      { prompt_tokens: 1e21, completion_tokens: 12345678901234568 },
      { 'prompt\u005ftokens': 4, completion_tokens: 5 },
      { note: 'a "quoted" } brace', prompt_tokens: 6 },
    ];
    for (const u of usages) {
      const texts = [
        JSON.stringify({ id: 'x', usage: u }), `{"id":"x",\n  "usage" :\t${JSON.stringify(u, null, 2)}\n}`,
      ];
      for (const text of texts) {
        const expected = new TokenUsage();
        expected.read(JSON.parse(text).usage);
        const got = new TokenUsage();
        readUsage(Buffer.from(text), got);
        assert.deepEqual(
          [got.prompt, got.completion, got.total], [expected.prompt, expected.completion, expected.total], text,
        );
      }
    }
  });

  it('reads OpenAI and Anthropic usage (cached prompt tokens included) and totals them', () => {
    const o = new TokenUsage();
    o.read({ prompt_tokens: 5, completion_tokens: 6 });
    o.finish();
    assert.deepEqual([o.prompt, o.completion, o.total], [5, 6, 11]);
    const a = new TokenUsage();
    a.read({ input_tokens: 10, cache_read_input_tokens: 90, output_tokens: 1 });
    a.read({ output_tokens: 20 });
    a.finish();
    assert.deepEqual([a.prompt, a.completion, a.total], [100, 20, 120]);
  });
});
