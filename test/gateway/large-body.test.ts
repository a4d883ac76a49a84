import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { summarizeRequest } from '../../src/dialects/summarize.js';
import { channel, withGateway } from '../helpers/gateway.js';
import { RawClient } from '../helpers/raw-client.js';
import { sleep } from '../helpers/wait.js';

/**
 * Large pass-through bodies are kept as node:http read them and written upstream from those reads (BodyIntake.parts):
 * these check that what the upstream gets is the client's bytes exactly, at every size and however the reads cut the
 * text, on a retry too, and that the bodies that need one buffer (a rewrite, a conversion) still get it.
 */
describe('gateway: large request bodies pass through byte for byte', () => {
  const gw = withGateway({
    upstreams: { p: 'openai', s: 'openai', an: 'anthropic' },
    gateway: ({ p, s, an }) => ({
      strategy: 'priority',
      retries: 2,
      firstByteTimeout: '5s',
      breaker: { consecutiveFailures: 1000, minRequests: 1000 },
      channels: [
        channel(p, { priority: 3, models: ['gpt-*'], modelMap: { 'gpt-mapped': 'gpt-upstream' } }),
        channel(s, { priority: 2, models: ['gpt-*'] }),
        channel(an, { models: ['claude-*'] }),
      ],
    }),
  });
  const { p, s, an } = gw.up;
  const head = (length: number): string =>
    'POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n'
    + `content-length: ${length}\r\n\r\n`;

  /** A chat body of about `bytes`, its text of 1-, 2-, 3- and 4-byte characters. */
  function body(bytes: number, model = 'gpt-4o', extra: Record<string, unknown> = {}): Buffer {
    const unit = 'aé€𝄞 ';
    const text = unit.repeat(Math.max(1, Math.floor(bytes / Buffer.byteLength(unit))));
    return Buffer.from(JSON.stringify({ model, ...extra, messages: [{ role: 'user', content: text }] }));
  }

  /**
   * Sends a request whose body goes out in pieces of an odd size (7 777 bytes: multi-byte characters are cut across
   * reads), pausing now and then so the gateway reads them apart; resolves with the answer.
   */
  async function send(bytes: Buffer): Promise<{ status: number; body: string }> {
    const client = await RawClient.open(gw.url);
    try {
      client.send(head(bytes.length));
      for (let at = 0, n = 0; at < bytes.length; at += 7777, n++) {
        client.send(bytes.subarray(at, at + 7777));
        if (n % 16 === 0) await sleep(2);
      }
      return await client.read();
    } finally {
      client.socket.destroy();
    }
  }

  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

  for (const [name, size] of [['1 KiB', 1024], ['1 MiB', 1 << 20], ['8 MiB', 8 << 20]] as const) {
    it(`${name}: the upstream gets the client's bytes exactly`, async () => {
      const b = body(size);
      const from = p.requests.length;
      const r = await send(b);
      assert.equal(r.status, 200, r.body);
      assert.equal(p.requests.length, from + 1);
      const got = p.requests[from]!;
      assert.equal(got.rawBytes, b.length);
      assert.equal(got.rawSha256, sha(b));
      assert.equal(got.headers['content-length'], String(b.length));
      assert.equal(got.headers['transfer-encoding'], undefined);
    });
  }

  it('chunked bodies without a declared length, below and above the inline size, arrive exactly', async () => {
    for (const size of [1 << 20, 2 << 20]) {
      const b = body(size);
      const from = p.requests.length;
      const client = await RawClient.open(gw.url);
      client.send('POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n'
        + 'transfer-encoding: chunked\r\n\r\n');
      for (let at = 0, n = 0; at < b.length; at += 9999, n++) {
        const piece = b.subarray(at, at + 9999);
        client.send(Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]));
        if (n % 16 === 0) await sleep(2);
      }
      client.send('0\r\n\r\n');
      const r = await client.read();
      client.socket.destroy();
      assert.equal(r.status, 200, r.body);
      assert.equal(p.requests[from]!.rawSha256, sha(b), `${size} bytes`);
    }
  });

  it('a retry on the next channel sends the whole body again', async () => {
    const b = body(1 << 20);
    p.script.push({ kind: 'status', status: 500 });
    const fromP = p.requests.length;
    const fromS = s.requests.length;
    const r = await send(b);
    assert.equal(r.status, 200, r.body);
    assert.equal(JSON.parse(r.body).choices[0].message.content, 'Hello from s');
    assert.equal(p.requests[fromP]!.rawSha256, sha(b));
    assert.equal(s.requests[fromS]!.rawSha256, sha(b));
  });

  it('invalid JSON at the end of a large body: the same 400 as a parse gives, and nothing goes upstream', async () => {
    const valid = body(1 << 20);
    // The last `}` becomes `,`: the body is cut off where JSON.parse finds out, at its very end.
    const bad = Buffer.concat([valid.subarray(0, valid.length - 1), Buffer.from(',')]);
    let expected: { message: string } | null = null;
    try {
      summarizeRequest('openai-chat', bad, null);
    } catch (err) {
      expected = err as { message: string };
    }
    assert.ok(expected !== null);
    const fromP = p.requests.length;
    const fromS = s.requests.length;
    const r = await send(bad);
    assert.equal(r.status, 400, r.body);
    const answer = JSON.parse(r.body) as { error: { message: string } };
    assert.ok(answer.error.message.includes(expected.message), `${answer.error.message} / ${expected.message}`);
    assert.equal(p.requests.length, fromP);
    assert.equal(s.requests.length, fromS);
  });

  it('bodies that need one buffer get it: a mapped model, a streamed OpenAI request, a conversion', async () => {
    const from = p.requests.length;
    const mapped = await send(body(1 << 20, 'gpt-mapped'));
    assert.equal(mapped.status, 200, mapped.body);
    const sent = p.requests[from]!;
    assert.equal(sent.body!.model, 'gpt-upstream');
    const expect = body(1 << 20, 'gpt-upstream');
    assert.equal(sent.rawSha256, sha(expect), 'only the model changed');

    // A streamed answer has no content-length: read through undici.
    const streamed = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: body(1 << 20, 'gpt-4o', { stream: true }),
    });
    assert.equal(streamed.statusCode, 200);
    assert.match(await streamed.body.text(), /\[DONE\]/);
    assert.deepEqual(p.requests[from + 1]!.body!.stream_options, { include_usage: true });

    const fromAn = an.requests.length;
    const converted = await send(body(1 << 20, 'claude-x'));
    assert.equal(converted.status, 200, converted.body);
    const msgs = an.requests[fromAn]!.body!.messages as { content: unknown }[];
    const text = JSON.stringify(msgs[0]!.content);
    assert.ok(text.includes('aé€𝄞 aé€𝄞 '), 'the text arrived converted, characters intact');
  });
});
