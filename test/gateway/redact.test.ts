import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { REDACTED, redactSecrets } from '../../src/gateway/upstream/redact.js';
import type { RecordedRequest } from '../fixtures/llm-upstream.js';
import { channel, withGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';
import { chat, messages } from '../helpers/llm.js';

const KEY = 'sk-proj-AbCdEfGhIjKlMnOpQrStUvWx1234';
const OTHER = 'sk-ant-api03-ZyXwVuTsRqPoNmLkJiHg-5678';

describe('redactSecrets', () => {
  const secrets = [KEY, OTHER, 'k'];
  it('replaces exact keys, wherever they stand', () => {
    assert.equal(
      redactSecrets(`Incorrect API key provided: ${KEY}.`, secrets), `Incorrect API key provided: ${REDACTED}.`,
    );
    assert.equal(redactSecrets(`"${OTHER}"`, secrets), `"${REDACTED}"`);
  });
  it('replaces the masked forms upstreams print: head + stars/dots + last 4, head only, tail only', () => {
    for (const masked of [
      'sk-proj-********************1234', 'sk-proj-AbC...1234', 'sk-pro…1234', '****1234', 'sk-proj-AbCdEf...',
      'sk-ant-api03-Zy***5678',
    ]) {
      const out = redactSecrets(`key ${masked} is wrong`, secrets);
      assert.equal(out, `key ${REDACTED} is wrong`, masked);
    }
  });
  it('replaces a key cut short (a long run of its characters)', () => {
    assert.equal(redactSecrets('key sk-proj-AbCdEfGhIjKl was refused', secrets), `key ${REDACTED} was refused`);
  });
  it('leaves ordinary text alone, and a short placeholder key only matches as a whole token', () => {
    const text = 'Rate limit reached for requests... Please try again in 20s (request req_0123456789abcdef, key k).';
    assert.equal(redactSecrets(text, secrets), text.replace('key k)', `key ${REDACTED})`));
    assert.equal(redactSecrets('****9999 and sk-proj-***0000', secrets), '****9999 and sk-proj-***0000');
    assert.equal(redactSecrets('anything', []), 'anything');
  });
});

describe('gateway: an upstream echoing its key never hands it to the client', () => {
  /** An Anthropic upstream whose stream starts, then sends an error event quoting its key. */
  function anthropicKeyEvent(_rec: RecordedRequest, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const start = {
      type: 'message_start',
      message: {
        id: 'm', type: 'message', role: 'assistant', model: 'claude-x', content: [],
        usage: { input_tokens: 1, output_tokens: 0 },
      },
    };
    res.write(`event: message_start\ndata: ${JSON.stringify(start)}\n\n`);
    const error = { type: 'error', error: { type: 'authentication_error', message: `invalid x-api-key ${OTHER}` } };
    res.end(`event: error\ndata: ${JSON.stringify(error)}\n\n`);
  }
  /** An OpenAI upstream whose stream (passed through as is) carries an error event, the key cut across two writes. */
  function openaiKeyEvent(_rec: RecordedRequest, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const chunk = { id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'Hi' } }] };
    const first = `data: ${JSON.stringify(chunk)}\n\n`;
    const failure = { error: { type: 'invalid_request_error', message: `Incorrect API key provided: ${KEY}` } };
    const error = `data: ${JSON.stringify(failure)}\n\n`;
    const cut = error.indexOf(KEY) + 10;
    res.write(first + error.slice(0, cut));
    setTimeout(() => res.end(error.slice(cut) + 'data: [DONE]\n\n'), 30);
  }
  const gw = withGateway({
    upstreams: {
      oa: 'openai',
      an: 'anthropic',
      oaSse: { dialect: 'openai', behaviour: { kind: 'custom', answer: openaiKeyEvent } },
      sse: { dialect: 'anthropic', behaviour: { kind: 'custom', answer: anthropicKeyEvent } },
    },
    gateway: ({ oa, an, oaSse, sse }) => ({
      retries: 0,
      channels: [
        channel(oa, { keys: [KEY], models: ['gpt-*'] }),
        channel(an, { keys: [OTHER], models: ['claude-3*'] }),
        channel(oaSse, { name: 'oa-sse', keys: [KEY], models: ['sse-gpt'] }),
        channel(sse, { keys: [OTHER], models: ['claude-sse'] }),
      ],
    }),
  });
  const { oa, an } = gw.up;

  const noKey = (text: string, what: string): void => {
    assert.ok(!text.includes(KEY) && !text.includes(OTHER), `${what} leaked a key: ${text}`);
    assert.ok(!text.includes('1234') && !text.includes('5678'), `${what} leaked a key's tail: ${text}`);
  };
  const echo = (status: number, body: string, contentType = 'application/json') => ({
    kind: 'status' as const, status, body, contentType,
  });
  const jsonEcho = (key: string) => JSON.stringify({ error: { type: 'invalid_request_error', code: 'invalid_api_key', message: `Incorrect API key provided: ${key}. You can find your API key at https://platform.openai.com/account/api-keys.` } });

  for (const stream of [false, true]) {
    it(`a passed-through 400 (JSON and text, exact and masked), `
      + `${stream ? 'streamed' : 'not streamed'} request`, async () => {
      oa.script.push(echo(400, jsonEcho(KEY)));
      const a = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o', { stream }));
      assert.equal(a.status, 400);
      noKey(a.text, '400 JSON');
      assert.match(a.json().error.message, /Incorrect API key provided: \[redacted\]/);
      oa.script.push(echo(400, `bad key sk-proj-********************1234 (text)`, 'text/plain'));
      const b = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o', { stream }));
      assert.equal(b.status, 400);
      assert.equal(b.headers['content-length'], String(Buffer.byteLength(b.text)));
      noKey(b.text, '400 text');
    });

    it(`429 and 500 bodies quoted in the gateway's error, `
      + `${stream ? 'streamed' : 'not streamed'} request`, async () => {
      oa.script.push(echo(429, jsonEcho(KEY)));
      const a = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o', { stream }));
      assert.equal(a.status, 429);
      noKey(a.text, '429');
      assert.match(a.text, /\[redacted\]/);
      oa.script.push(echo(500, `upstream failure for key ${KEY.slice(0, 12)}...${KEY.slice(-4)}`, 'text/plain'));
      const b = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o', { stream }));
      assert.equal(b.status, 502);
      noKey(b.text, '500');
    });
  }

  it('an error converted to the other dialect (Anthropic client, OpenAI channel and back)', async () => {
    oa.script.push(echo(400, jsonEcho(KEY)));
    const a = await post(`${gw.url}/v1/messages`, messages('gpt-4o'));
    assert.equal(a.status, 400);
    assert.equal(a.json().type, 'error');
    noKey(a.text, 'converted 400');
    an.script.push(echo(400, JSON.stringify({
      type: 'error', error: { type: 'invalid_request_error', message: `key ${OTHER} is not allowed` },
    })));
    const b = await post(`${gw.url}/v1/chat/completions`, chat('claude-3-5-sonnet', { stream: true }));
    assert.equal(b.status, 400);
    noKey(b.text, 'converted 400 (anthropic)');
  });

  it('an error event in a passed-through stream, the key cut across two upstream writes', async () => {
    const a = await post(`${gw.url}/v1/chat/completions`, chat('sse-gpt', { stream: true }));
    assert.equal(a.status, 200);
    assert.match(a.text, /"content":"Hi"/);
    assert.match(a.text, /Incorrect API key provided: \[redacted\]/);
    assert.match(a.text, /data: \[DONE\]\n\n$/);
    noKey(a.text, 'passed-through stream error event');
  });

  it('an in-stream error event of a converted stream', async () => {
    const a = await post(`${gw.url}/v1/chat/completions`, chat('claude-sse', { stream: true }));
    assert.equal(a.status, 200);
    assert.match(a.text, /\[redacted\]/);
    noKey(a.text, 'stream error event');
  });
});
