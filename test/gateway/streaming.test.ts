import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { describe, it } from 'node:test';
import { channel, withGateway } from '../helpers/gateway.js';
import { chat } from '../helpers/llm.js';
import { eventually, sleep } from '../helpers/wait.js';

const PIECES = Array.from({ length: 1200 }, (_, i) => `<${i}>`);
const PAD = 64 * 1024;

describe('gateway: streaming with backpressure and client abort', () => {
  const gw = withGateway({
    upstreams: {
      // 1200 events of ~64 KiB: ~75 MiB if nothing held it back (far more than the kernel's socket buffers).
      big: { dialect: 'openai', pieces: PIECES, padBytes: PAD },
      paced: { dialect: 'openai', pieces: Array.from({ length: 50 }, (_, i) => `${i} `), chunkDelayMs: 20 },
    },
    gateway: ({ big, paced }) => ({
      channels: [channel(big, { models: ['big'] }), channel(paced, { models: ['paced'] })],
    }),
  });
  const { big, paced } = gw.up;

  function open(model: string) {
    const { hostname, port } = new URL(gw.url);
    const body = JSON.stringify(chat(model, { stream: true }));
    return httpRequest({
      host: hostname, port, method: 'POST', path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }).end(body);
  }

  it('a slow client holds the upstream back (no buffering), then gets every event in order', async () => {
    const req = open('big');
    const res = await new Promise<import('node:http').IncomingMessage>((r) => req.on('response', r));
    res.pause();
    await eventually(() => big.requests.length === 1 && big.requests[0]!.bytesWritten > 0, 5000, 'the stream to start');
    // Wait until the upstream is stalled: its writes stop growing while the client reads nothing.
    let last = -1;
    while (big.requests[0]!.bytesWritten !== last) {
      last = big.requests[0]!.bytesWritten;
      await sleep(300);
    }
    const total = PIECES.length * PAD;
    const written = big.requests[0]!.bytesWritten;
    assert.ok(written < total / 2, `upstream wrote ${written} of ${total} bytes while the client read nothing`);
    assert.equal(big.requests[0]!.finished, false);
    // Now read it all, slowly at first: order must be intact.
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.resume();
    await new Promise((r) => res.on('end', r));
    const text = Buffer.concat(chunks).toString('utf8');
    const seen = [...text.matchAll(/<(\d+)>/g)].map((m) => Number(m[1]));
    assert.deepEqual(seen, PIECES.map((_, i) => i));
    assert.ok(text.trimEnd().endsWith('data: [DONE]'));
  });

  it('a client that disconnects mid-stream aborts the upstream request at once', async () => {
    const req = open('paced');
    const res = await new Promise<import('node:http').IncomingMessage>((r) => req.on('response', r));
    await new Promise((r) => res.once('data', r));
    req.destroy();
    await eventually(() => paced.requests[0]?.aborted === true, 5000, 'the upstream request to be aborted');
    assert.equal(paced.requests[0]!.finished, false);
    await eventually(
      () => gw.detail<{ requests: { live: number } }>().requests.live === 0, 5000, 'the exchange to end',
    );
    const ch = gw.channel('paced');
    assert.equal(ch.inFlight, 0);
    assert.equal(ch.breaker.state, 'closed');
  });
});
