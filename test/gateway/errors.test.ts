import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { describe, it } from 'node:test';
import { connect } from 'node:net';
import { channel, withGateway } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';
import { freePort } from '../helpers/listen.js';
import { chat, messages } from '../helpers/llm.js';
import { eventually, sleep } from '../helpers/wait.js';

describe('gateway: error paths answer JSON in the endpoint dialect with TG_ERR_* codes', () => {
  const gw = withGateway({
    upstreams: { oa: 'openai', hung: { dialect: 'openai', behaviour: { kind: 'no-first-byte' } } },
    gateway: async ({ oa, hung }) => {
      const dead = await freePort(); // nothing listens there
      return {
        maxBodyBytes: 1024,
        firstByteTimeout: '300ms',
        retries: 0,
        channels: [
          channel(oa, { models: ['gpt-*'] }),
          { name: 'dead', kind: 'openai', baseUrl: `http://127.0.0.1:${dead}/v1`, keys: ['k'], models: ['dead-*'] },
          channel(hung, { models: ['slow-*'] }),
          { name: 'an', kind: 'anthropic', baseUrl: `http://127.0.0.1:${dead}`, keys: ['k'], models: ['claude-*'] },
        ],
      };
    },
  });
  const { oa, hung } = gw.up;

  it('unknown route → 404 TG_ERR_ROUTE_NOT_FOUND', async () => {
    const r = await post(`${gw.url}/v1/nope`, {});
    assert.equal(r.status, 404);
    assert.equal(r.json().error.code, 'TG_ERR_ROUTE_NOT_FOUND');
    assert.equal(r.json().error.type, 'not_found_error');
  });

  it('wrong method → 405 with Allow', async () => {
    const r = await get(`${gw.url}/v1/chat/completions`);
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'POST');
    assert.equal(r.json().error.code, 'TG_ERR_METHOD_NOT_ALLOWED');
  });

  it('body over maxBodyBytes (declared) → 413 TG_ERR_BODY_TOO_LARGE', async () => {
    const r = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o', { pad: 'x'.repeat(2000) }));
    assert.equal(r.status, 413);
    assert.equal(r.json().error.code, 'TG_ERR_BODY_TOO_LARGE');
    assert.equal(oa.requests.length, 0);
  });

  it('body over maxBodyBytes (chunked, no content-length) → 413', async () => {
    async function* body() {
      for (let i = 0; i < 10; i++) yield Buffer.alloc(300, 0x20);
    }
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: Readable.from(body()),
    });
    assert.equal(res.statusCode, 413);
    const j = (await res.body.json()) as { error: { code: string } };
    assert.equal(j.error.code, 'TG_ERR_BODY_TOO_LARGE');
  });

  it('bad JSON → 400 with the byte position', async () => {
    const r = await post(`${gw.url}/v1/chat/completions`, '{"model": "gpt-4o" x}');
    assert.equal(r.status, 400);
    const e = r.json().error;
    assert.equal(e.code, 'TG_ERR_BAD_REQUEST_BODY');
    assert.equal(e.type, 'invalid_request_error');
    assert.equal(e.position, 19);
    assert.match(e.message, /byte 19/);
  });

  it('a body of the wrong shape → 400 naming the JSON path', async () => {
    const r = await post(
      `${gw.url}/v1/chat/completions`, { model: 'gpt-4o', messages: [{ role: 'wizard', content: 'x' }] },
    );
    assert.equal(r.status, 400);
    assert.equal(r.json().error.param, '$.messages[0].role');
  });

  it('Anthropic endpoint errors use {type:"error", error:{type, message}}', async () => {
    const r = await post(`${gw.url}/v1/messages`, '{"model":');
    assert.equal(r.status, 400);
    const j = r.json();
    assert.equal(j.type, 'error');
    assert.equal(j.error.type, 'invalid_request_error');
    assert.equal(j.error.code, 'TG_ERR_BAD_REQUEST_BODY');
    assert.equal(typeof j.error.message, 'string');
  });

  it('a model no channel serves → 404 TG_ERR_NO_CHANNEL', async () => {
    const r = await post(`${gw.url}/v1/chat/completions`, chat('llama-3'));
    assert.equal(r.status, 404);
    assert.equal(r.json().error.code, 'TG_ERR_NO_CHANNEL');
  });

  it('every channel down (connection refused) → 502 TG_ERR_ALL_CHANNELS_FAILED', async () => {
    const r = await post(`${gw.url}/v1/chat/completions`, chat('dead-1'));
    assert.equal(r.status, 502);
    assert.equal(r.json().error.code, 'TG_ERR_ALL_CHANNELS_FAILED');
    const a = await post(`${gw.url}/v1/messages`, messages('claude-x'));
    assert.equal(a.status, 502);
    assert.equal(a.json().type, 'error');
    assert.equal(a.json().error.type, 'api_error');
  });

  it('upstream sends no first byte within firstByteTimeout → 504 TG_ERR_UPSTREAM_TIMEOUT, '
    + 'upstream request aborted', async () => {
    const r = await post(`${gw.url}/v1/chat/completions`, chat('slow-1'));
    assert.equal(r.status, 504);
    assert.equal(r.json().error.code, 'TG_ERR_UPSTREAM_TIMEOUT');
    assert.equal(r.json().error.type, 'timeout_error');
    await eventually(() => hung.requests.at(-1)?.aborted === true, 5000, 'the hung upstream request to be aborted');
  });

  it('an upstream 4xx that is the client\'s fault passes through unchanged', async () => {
    oa.script.push({
      kind: 'status', status: 400, body: '{"error":{"type":"invalid_request_error","code":"bad","message":"nope"}}',
    });
    const r = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'));
    assert.equal(r.status, 400);
    assert.equal(r.json().error.message, 'nope');
  });
});

describe('gateway: requestTimeout ends the request with 504, without further attempts', () => {
  const hung = { dialect: 'openai', behaviour: { kind: 'no-first-byte' } } as const;
  const gw = withGateway({
    upstreams: { h1: hung, h2: hung },
    gateway: ({ h1, h2 }) => ({
      requestTimeout: '300ms',
      firstByteTimeout: '30s',
      retries: 3,
      strategy: 'round-robin',
      channels: [channel(h1), channel(h2)],
    }),
  });
  const { h1, h2 } = gw.up;

  it('504 TG_ERR_UPSTREAM_TIMEOUT after one attempt; that attempt is aborted upstream', async () => {
    const r = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'));
    assert.equal(r.status, 504);
    assert.equal(r.json().error.code, 'TG_ERR_UPSTREAM_TIMEOUT');
    assert.match(r.json().error.message, /requestTimeout/);
    assert.equal(h1.requests.length + h2.requests.length, 1);
    const up = h1.requests.length === 1 ? h1 : h2;
    await eventually(() => up.requests[0]!.aborted, 5000, 'the timed-out upstream request to be aborted');
  });
});

describe('gateway: requestTimeout counts from the request\'s arrival, slow upload included', () => {
  const gw = withGateway({
    // The upstream answers in 250 ms: well within requestTimeout counted from routing, not from arrival.
    upstreams: { up: { dialect: 'openai', firstByteDelayMs: 250 } },
    gateway: ({ up }) => ({ requestTimeout: '500ms', firstByteTimeout: '30s', channels: [channel(up)] }),
  });

  it('a body that took longer than requestTimeout to arrive ends in 504', async () => {
    const body = Buffer.from(JSON.stringify(chat('gpt-4o')));
    const { hostname, port } = new URL(gw.url);
    const socket = connect(Number(port), hostname);
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    let answer = '';
    socket.on('data', (c: Buffer) => { answer += c.toString(); });
    const closed = new Promise<void>((resolve) => socket.once('close', resolve));
    socket.write('POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n'
      + `connection: close\r\ncontent-length: ${body.length}\r\n\r\n`);
    // The body arrives over 700 ms.
    for (let i = 0; i < 7; i++) {
      socket.write(body.subarray(Math.floor((i * body.length) / 7), Math.floor(((i + 1) * body.length) / 7)));
      await sleep(100);
    }
    await closed;
    assert.match(answer, /^HTTP\/1\.1 504 /);
    assert.match(answer, /TG_ERR_UPSTREAM_TIMEOUT/);
  });
});
