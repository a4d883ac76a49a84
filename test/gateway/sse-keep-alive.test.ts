import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import type { Behaviour } from '../fixtures/llm-upstream.js';
import { channel, withGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';
import { chat, messages, sseEvents } from '../helpers/llm.js';

/** A streamed POST read as it arrives: `onText` sees the text so far after each chunk; the whole text is returned. */
function streamPost(
  url: string, body: unknown, onText: (text: string) => void,
): Promise<{ status: number; headers: IncomingMessage['headers']; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({
      host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'POST',
      headers: { 'content-type': 'application/json' },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        onText(text);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** An upstream answer held until the test releases it (once the client has seen a keep-alive frame). */
class Held {
  go: () => void = () => undefined;
  readonly until = new Promise<void>((resolve) => {
    this.go = resolve;
  });

  then(then: Behaviour): Behaviour {
    return { kind: 'after', until: this.until, then };
  }
}

/** An error status with a body in OpenAI's and Anthropic's common `error.message` shape. */
function errorAnswer(status: number, message: string): Behaviour {
  const body = JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message } });
  return { kind: 'status', status, body };
}

describe('gateway: sseKeepAlive frames while the upstream is silent, errors inside the opened stream', () => {
  const gw = withGateway({
    upstreams: {
      oa: 'openai', an: 'anthropic',
      slow: { dialect: 'openai', firstByteDelayMs: 350 }, slowan: { dialect: 'anthropic', firstByteDelayMs: 350 },
    },
    gateway: ({ oa, an, slow, slowan }) => ({
      sseKeepAlive: '50ms',
      retries: 0,
      channels: [
        channel(oa, { models: ['gpt-*'] }), channel(an, { models: ['claude-*'] }),
        channel(slow, { models: ['slow-gpt'] }), channel(slowan, { models: ['slow-claude'] }),
      ],
    }),
  });
  const { oa, an } = gw.up;

  it('chat: `: keep-alive` comments before the first chunk, then the upstream stream as it was', async () => {
    const held = new Held();
    oa.script.push(held.then({ kind: 'ok' }));
    const r = await streamPost(`${gw.url}/v1/chat/completions`, chat('gpt-4o', { stream: true }), (text) => {
      if (text.includes(': keep-alive\n\n')) held.go();
    });
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /text\/event-stream/);
    assert.ok(r.text.startsWith(': keep-alive\n\n'));
    const events = sseEvents(r.text.replace(/^(: keep-alive\n\n)+/, ''));
    assert.equal(events.at(-1)!.data, '[DONE]');
    const text = events.slice(0, -1).map((e) => JSON.parse(e.data).choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, 'Hello from oa');
    const row = gw.usage.at(-1)!;
    assert.equal(row.status, 200);
    assert.equal(row.error, null);
  });

  it('anthropic: Anthropic\'s own ping events before message_start', async () => {
    const held = new Held();
    an.script.push(held.then({ kind: 'ok' }));
    const r = await streamPost(`${gw.url}/v1/messages`, messages('claude-sonnet-4-5', { stream: true }), (text) => {
      if (text.includes('event: ping')) held.go();
    });
    const events = sseEvents(r.text);
    assert.equal(events[0]!.event, 'ping');
    assert.deepEqual(JSON.parse(events[0]!.data), { type: 'ping' });
    const start = events.findIndex((e) => e.event === 'message_start');
    assert.ok(start > 0);
    assert.ok(events.slice(0, start).every((e) => e.event === 'ping'));
    assert.equal(events.at(-1)!.event, 'message_stop');
  });

  it('an upstream error status after the stream opened: an error event in the client\'s dialect, never a cut',
    async () => {
      const held = new Held();
      oa.script.push(held.then(errorAnswer(400, 'bad thing')));
      const r = await streamPost(`${gw.url}/v1/chat/completions`, chat('gpt-4o', { stream: true }), (text) => {
        if (text.includes(': keep-alive')) held.go();
      });
      assert.equal(r.status, 200);
      const events = sseEvents(r.text);
      const last = JSON.parse(events.at(-1)!.data);
      assert.equal(last.error.code, 'TG_ERR_UPSTREAM_STREAM');
      assert.match(last.error.message, /channel "oa" answered 400: bad thing/);
      const row = gw.usage.at(-1)!;
      assert.equal(row.error, 'TG_ERR_UPSTREAM_STREAM');

      const heldAn = new Held();
      an.script.push(heldAn.then(errorAnswer(500, 'overloaded')));
      const a = await streamPost(`${gw.url}/v1/messages`, messages('claude-sonnet-4-5', { stream: true }), (text) => {
        if (text.includes('event: ping')) heldAn.go();
      });
      const ev = sseEvents(a.text).at(-1)!;
      assert.equal(ev.event, 'error');
      const body = JSON.parse(ev.data);
      assert.equal(body.type, 'error');
      // A retryable status: failed over, none left; the failover error quotes the upstream.
      assert.match(body.error.message, /channel "an" answered 500: .*overloaded/);
    });

  it('a Responses client on a chat channel: the failure after the stream opened is a Responses error event',
    async () => {
      const held = new Held();
      oa.script.push(held.then(errorAnswer(400, 'no such tool')));
      const r = await streamPost(`${gw.url}/v1/responses`, { model: 'gpt-4o', input: 'Hi', stream: true }, (text) => {
        if (text.includes(': keep-alive')) held.go();
      });
      const ev = sseEvents(r.text).at(-1)!;
      assert.equal(ev.event, 'error');
      const body = JSON.parse(ev.data);
      assert.equal(body.type, 'error');
      assert.equal(body.code, 'TG_ERR_UPSTREAM_STREAM');
      assert.match(body.message, /no such tool/);
    });

  it('the official SDKs read through the keep-alives: openai chat and responses, Anthropic, Gemini', async () => {
    const openai = new OpenAI({ apiKey: 'none', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    let text = '';
    for await (const c of await openai.chat.completions.create({
      model: 'slow-gpt', stream: true, messages: [{ role: 'user', content: 'Hi' }],
    })) text += c.choices[0]?.delta.content ?? '';
    assert.equal(text, 'Hello from slow');
    let done = '';
    for await (const ev of await openai.responses.create({ model: 'slow-gpt', input: 'Hi', stream: true })) {
      if (ev.type === 'response.output_text.done') done = ev.text;
    }
    assert.equal(done, 'Hello from slow');
    const anthropic = new Anthropic({ apiKey: 'none', baseURL: gw.url, maxRetries: 0 });
    const final = await anthropic.messages.stream({
      model: 'slow-claude', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }],
    }).finalMessage();
    assert.equal(final.content[0]!.type === 'text' ? final.content[0]!.text : '', 'Hello from slowan');
    const gemini = new GoogleGenAI({ apiKey: 'none', httpOptions: { baseUrl: gw.url } });
    let g = '';
    for await (const c of await gemini.models.generateContentStream({ model: 'slow-claude', contents: 'Hi' })) {
      g += c.text ?? '';
    }
    assert.equal(g, 'Hello from slowan');
  });

  it('a non-streamed request gets no keep-alive: its JSON answer and status wait for the upstream', async () => {
    const r = await post(`${gw.url}/v1/chat/completions`, chat('slow-gpt'));
    assert.equal(r.status, 200);
    assert.equal(r.json().choices[0].message.content, 'Hello from slow');
  });
});
