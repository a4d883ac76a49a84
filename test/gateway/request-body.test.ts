import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { oneChannel, withGateway } from '../helpers/gateway.js';
import { chat } from '../helpers/llm.js';
import { RawClient } from '../helpers/raw-client.js';
import { eventually, sleep } from '../helpers/wait.js';

/** The gateway reads request bodies straight from node:http's parser (GatewayRequest.push): these hold it to HTTP. */
describe('gateway: request bodies as they arrive on the wire', () => {
  const gw = withGateway(oneChannel);
  const { up } = gw.up;

  const live = (): number => gw.detail<{ requests: { live: number } }>().requests.live;
  const head = (length: number | 'chunked'): string =>
    'POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n'
    + `${length === 'chunked' ? 'transfer-encoding: chunked' : `content-length: ${length}`}\r\n\r\n`;

  it('pipelined requests in one write, one body cut across writes: '
    + 'each answered, in order, each body intact', async () => {
    const first = JSON.stringify(chat('gpt-4o', { user: 'first' }));
    const second = JSON.stringify(chat('gpt-4o-mini', { user: 'second' }));
    const client = await RawClient.open(gw.url);
    const from = up.requests.length;
    client.send(head(first.length) + first + head(second.length) + second.slice(0, 10));
    await sleep(50);
    client.send(second.slice(10));
    const a = await client.read();
    const b = await client.read();
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.equal(JSON.parse(a.body).model, 'gpt-4o');
    assert.equal(JSON.parse(b.body).model, 'gpt-4o-mini');
    assert.deepEqual(up.requests.slice(from).map((r) => r.body?.user), ['first', 'second']);
    client.socket.destroy();
  });

  it('a chunked body in many small pieces arrives whole', async () => {
    const body = JSON.stringify(chat('gpt-4o', { user: 'pieces', pad: 'é'.repeat(300) }));
    const client = await RawClient.open(gw.url);
    const from = up.requests.length;
    client.send(head('chunked'));
    const bytes = Buffer.from(body);
    for (let at = 0; at < bytes.length; at += 37) {
      const piece = bytes.subarray(at, at + 37);
      client.send(Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]));
      if (at % 148 === 0) await sleep(5);
    }
    client.send('0\r\n\r\n');
    const answer = await client.read();
    assert.equal(answer.status, 200);
    assert.equal(up.requests.length, from + 1);
    assert.equal(up.requests[from]!.rawBytes, bytes.length);
    assert.equal(up.requests[from]!.body?.pad, 'é'.repeat(300));
    client.socket.destroy();
  });

  it('a client gone halfway through its body leaves nothing behind, and never reaches the upstream', async () => {
    const body = JSON.stringify(chat('gpt-4o'));
    const from = up.requests.length;
    const client = await RawClient.open(gw.url);
    client.send(head(body.length) + body.slice(0, 20));
    await eventually(() => live() === 1, 5000, 'the request to be live');
    client.socket.destroy();
    await eventually(() => live() === 0, 5000, 'the half request to be dropped');
    assert.equal(up.requests.length, from);
    const next = await RawClient.open(gw.url);
    assert.equal((await next.chat('gpt-4o')).status, 200, 'the gateway still serves');
    next.socket.destroy();
  });

  it('a keep-alive connection carries request after request, with bodies and without', async () => {
    const client = await RawClient.open(gw.url);
    for (let i = 0; i < 50; i++) {
      assert.equal((await client.chat('gpt-4o')).status, 200, `chat ${i}`);
      client.send('GET /v1/models HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
      assert.equal((await client.read()).status, 200, `models ${i}`);
    }
    assert.equal(live(), 0);
    client.socket.destroy();
  });
});
