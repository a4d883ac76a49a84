import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import OpenAI from 'openai';
import { channel, oneChannel, withGateway } from '../helpers/gateway.js';

/**
 * A client that writes its whole body before it reads anything (as simple clients do), on a paused socket: it sees
 * the answer only if the gateway kept reading until the body was sent, instead of resetting the connection.
 */
function writeAllThenRead(
  url: string, head: string, body: Buffer,
): Promise<{ outcome: 'answer' | 'error'; text: string }> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), '127.0.0.1');
    socket.pause();
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve({ outcome: 'error', text: err.code ?? err.message }));
    socket.on('end', () => resolve({ outcome: 'answer', text: Buffer.concat(chunks).toString('latin1') }));
    socket.write(head);
    socket.write(body, () => socket.resume());
  });
}

function chunked(body: Buffer, piece: number): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < body.length; at += piece) {
    const p = body.subarray(at, at + piece);
    parts.push(Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

const HEAD = 'POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n';

describe('gateway: 413 answered early, read by a client that is still writing', () => {
  const gw = withGateway({
    ...oneChannel,
    gateway: ({ up }) => ({ maxBodyBytes: '64KiB', channels: [channel(up, { models: ['gpt-*'] })] }),
  });
  const { up } = gw.up;

  it('the openai SDK surfaces a 413 APIError for a body over maxBodyBytes, not a connection error', async () => {
    const client = new OpenAI({ apiKey: 'x', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    for (const size of [200_000, 4_000_000]) {
      const create = client.chat.completions.create({
        model: 'gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(size) }],
      });
      await assert.rejects(create, (err: unknown) => {
        assert.ok(err instanceof OpenAI.APIError, `an APIError, got ${String(err)}`);
        assert.ok(!(err instanceof OpenAI.APIConnectionError), 'not a connection error');
        assert.equal(err.status, 413);
        assert.equal((err as { code?: string }).code, 'TG_ERR_BODY_TOO_LARGE');
        return true;
      });
    }
    assert.equal(up.requests.length, 0);
  });

  it('a declared body over the limit is read and discarded, '
    + 'so a client writing 4 MiB before reading gets the 413', async () => {
    const body = Buffer.alloc(4 * 1024 * 1024, 0x20);
    const r = await writeAllThenRead(gw.url, `${HEAD}content-length: ${body.length}\r\n\r\n`, body);
    assert.equal(r.outcome, 'answer', `expected the answer, got ${r.text}`);
    assert.match(r.text, /^HTTP\/1\.1 413 /);
    assert.match(r.text, /\r\nconnection: close\r\n/i);
    assert.match(r.text, /TG_ERR_BODY_TOO_LARGE/);
  });

  it('a chunked body that grows over the limit gets the same 413 while it is still being written', async () => {
    const body = chunked(Buffer.alloc(8 * 1024 * 1024, 0x20), 64 * 1024);
    const r = await writeAllThenRead(gw.url, `${HEAD}transfer-encoding: chunked\r\n\r\n`, body);
    assert.equal(r.outcome, 'answer', `expected the answer, got ${r.text}`);
    assert.match(r.text, /^HTTP\/1\.1 413 /);
  });

  it('a request pipelined behind a 413 is not served (its answer could not be sent) '
    + 'and leaves nothing behind', async () => {
    const from = up.requests.length;
    const big = Buffer.alloc(100 * 1024, 0x20);
    const ok = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    const socket = connect(Number(new URL(gw.url).port), '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(Buffer.concat([
      Buffer.from(`${HEAD}content-length: ${big.length}\r\n\r\n`), big,
      Buffer.from(`${HEAD}content-length: ${ok.length}\r\n\r\n${ok}`),
    ]));
    await new Promise<void>((resolve) => socket.once('close', resolve));
    assert.deepEqual(text.match(/HTTP\/1\.1 \d+/g), ['HTTP/1.1 413']);
    assert.equal(up.requests.length, from, 'the pipelined request never reached the upstream');
    const detail = gw.detail<{ requests: { live: number }; bodyBudget: { used: number } }>();
    assert.equal(detail.requests.live, 0);
    assert.equal(detail.bodyBudget.used, 0);
  });

  it('the discarding is bounded: a body far beyond the bound has its connection cut, '
    + 'and the gateway still serves', async () => {
    const body = Buffer.alloc(64 * 1024 * 1024, 0x20);
    const r = await writeAllThenRead(gw.url, `${HEAD}content-length: ${body.length}\r\n\r\n`, body);
    assert.equal(r.outcome, 'error');
    const ok = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(ok.status, 200);
    await ok.text();
  });
});
