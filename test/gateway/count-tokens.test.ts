import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { Tiktoken } from 'js-tiktoken/lite';
import o200k from 'js-tiktoken/ranks/o200k_base';
import { channel, withGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';
import { listenHttp, type TestHttpServer } from '../helpers/listen.js';

interface Seen { path: string; body: string; headers: Record<string, unknown> }

describe('gateway: POST /v1/messages/count_tokens through @anthropic-ai/sdk', () => {
  const seen: Seen[] = [];
  let counting: TestHttpServer;
  // An Anthropic upstream that counts: 42 for everything.
  before(async () => {
    counting = await listenHttp((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString(), headers: req.headers });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"input_tokens":42}');
      });
    });
  });
  after(() => counting.close());
  const gw = withGateway({
    upstreams: { oa: 'openai' },
    gateway: ({ oa }) => ({
      channels: [
        { name: 'an', kind: 'anthropic', baseUrl: counting.origin, keys: ['sk-an'], models: ['claude-*'] },
        channel(oa, { models: ['gpt-*', 'llama-*'] }),
      ],
    }),
  });
  const { oa } = gw.up;
  const client = (): Anthropic => new Anthropic({ apiKey: 'none', baseURL: gw.url, maxRetries: 0 });

  it('an Anthropic channel counts: the request is forwarded unchanged', async () => {
    const messages = [{ role: 'user' as const, content: 'Hello' }];
    const body = { model: 'claude-sonnet-4', system: 'Be terse.', messages };
    const { data, response } = await client().messages.countTokens(body).withResponse();
    assert.equal(data.input_tokens, 42);
    assert.equal(response.headers.get('x-tidegate-count-method'), null);
    const s = seen.at(-1)!;
    assert.equal(s.path, '/v1/messages/count_tokens');
    assert.deepEqual(JSON.parse(s.body), body);
    assert.equal(s.headers['x-api-key'], 'sk-an');
  });

  it('an OpenAI model on an OpenAI channel is counted locally with its tokenizer, the method in a header', async () => {
    const schema = { type: 'object' as const, properties: { city: { type: 'string' } } };
    const tools = [{ name: 'weather', description: 'Weather in a city', input_schema: schema }];
    const { data, response } = await client().messages.countTokens({
      model: 'gpt-4o', system: 'Be terse.', tools,
      messages: [
        { role: 'user', content: 'What is the weather in Paris today?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'sunny' }] },
      ],
    }).withResponse();
    assert.equal(response.headers.get('x-tidegate-count-method'), 'tiktoken/o200k_base');
    // The documented recipe: 3 per message (and per tool result), 3 to prime the answer, text and JSON tokenized.
    const tk = new Tiktoken(o200k);
    const n = (s: string): number => tk.encode(s, [], []).length;
    const expected = 3 + (3 + n('Be terse.')) + (3 + n('What is the weather in Paris today?'))
      + (3 + n('weather') + n('{"city":"Paris"}')) + (3 + 3 + n('sunny'))
      + n('weather') + n('Weather in a city') + n(JSON.stringify(schema));
    assert.equal(data.input_tokens, expected);
    assert.equal(oa.requests.length, 0, 'nothing was sent upstream');
  });

  it('a model family without a local tokenizer on a channel that cannot count: a 400 naming the model', async () => {
    const messages = [{ role: 'user' as const, content: 'hi' }];
    const refused = client().messages.countTokens({ model: 'llama-3-70b', messages });
    await assert.rejects(refused, (err: unknown) => {
      assert.ok(err instanceof Anthropic.BadRequestError);
      assert.match(err.message, /no local tokenizer/);
      return true;
    });
    const body = { model: 'llama-3-70b', messages: [{ role: 'user', content: 'hi' }] };
    const raw = await post(`${gw.url}/v1/messages/count_tokens`, body);
    assert.equal(raw.status, 400);
    assert.equal(raw.json().error.param, '$.model');
  });

  it('a bad body is a 400 with its path; max_tokens is not needed', async () => {
    const body = { model: 'gpt-4o', messages: [{ role: 'robot', content: 'hi' }] };
    const raw = await post(`${gw.url}/v1/messages/count_tokens`, body);
    assert.equal(raw.status, 400);
    assert.equal(raw.json().error.param, '$.messages[0].role');
  });
});
