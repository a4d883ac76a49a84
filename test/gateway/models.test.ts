import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { describe, it } from 'node:test';
import { rewriteModel } from '../../src/gateway/routing/model-rewrite.js';
import { channel, withGateway } from '../helpers/gateway.js';

describe('gateway: /v1/models in each dialect, modelMap and rule model rewrites', () => {
  const gw = withGateway({
    upstreams: { oa: 'openai', an: 'anthropic' },
    gateway: ({ oa, an }) => ({
      channels: [
        channel(oa, { keys: ['sk-up'], models: ['gpt-*', 'gpt-4o-mini'], modelMap: { fast: 'gpt-4o-mini' } }),
        channel(an, { keys: ['sk-an'], models: ['claude-*'], modelMap: { smart: 'claude-sonnet-4-5' } }),
      ],
      rules: [{ match: { model: 'cheap' }, model: 'gpt-4.1-nano', channels: ['oa'] }],
    }),
    users: [{ id: 'team', keys: ['tg-team'] }],
  });

  it('openai models.list: exact names and modelMap keys, never globs', async () => {
    const client = new OpenAI({ apiKey: 'tg-team', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.deepEqual(ids, ['fast', 'gpt-4o-mini', 'smart']);
  });

  it('@anthropic-ai/sdk models.list: Anthropic\'s list shape', async () => {
    const client = new Anthropic({ apiKey: 'tg-team', baseURL: gw.url, maxRetries: 0 });
    const ids: string[] = [];
    for await (const m of client.models.list()) {
      assert.equal(m.type, 'model');
      ids.push(m.id);
    }
    assert.deepEqual(ids, ['fast', 'gpt-4o-mini', 'smart']);
  });

  it('@google/genai models.list: GET /v1beta/models in Gemini\'s shape', async () => {
    const client = new GoogleGenAI({ apiKey: 'tg-team', httpOptions: { baseUrl: gw.url } });
    const names: string[] = [];
    for await (const m of await client.models.list()) names.push(m.name ?? '');
    assert.deepEqual(names, ['models/fast', 'models/gpt-4o-mini', 'models/smart']);
  });

  it('a modelMap key is sent upstream as its mapped name (openai, anthropic, a Gemini URL)', async () => {
    const { oa, an } = gw.up;
    const openai = new OpenAI({ apiKey: 'tg-team', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const r = await openai.chat.completions.create({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.choices[0]!.message.content, 'Hello from oa');
    assert.equal(oa.requests.at(-1)!.body!.model, 'gpt-4o-mini');
    assert.deepEqual(oa.requests.at(-1)!.body!.messages, [{ role: 'user', content: 'hi' }]);

    const anthropic = new Anthropic({ apiKey: 'tg-team', baseURL: gw.url, maxRetries: 0 });
    const m = await anthropic.messages.create({
      model: 'smart', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(m.content[0]!.type, 'text');
    assert.equal(an.requests.at(-1)!.body!.model, 'claude-sonnet-4-5');

    const genai = new GoogleGenAI({ apiKey: 'tg-team', httpOptions: { baseUrl: gw.url } });
    const g = await genai.models.generateContent({ model: 'fast', contents: 'hi' });
    assert.equal(g.text, 'Hello from oa');
    assert.equal(oa.requests.at(-1)!.body!.model, 'gpt-4o-mini');
  });

  it('a rule\'s model is sent upstream; a converted body carries the rewrite too', async () => {
    const { oa } = gw.up;
    const openai = new OpenAI({ apiKey: 'tg-team', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await openai.chat.completions.create({ model: 'cheap', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(oa.requests.at(-1)!.body!.model, 'gpt-4.1-nano');
    const anthropic = new Anthropic({ apiKey: 'tg-team', baseURL: gw.url, maxRetries: 0 });
    await anthropic.messages.create({ model: 'fast', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(oa.requests.at(-1)!.body!.model, 'gpt-4o-mini');
  });
});

describe('rewriteModel: the top-level "model" string only, every other byte kept', () => {
  it('skips nested and in-string "model", keeps spacing, and answers null without a top-level one', () => {
    const body = '{"meta":{"model":"x"},"note":"\\"model\\": \\"y\\"", "model" :  "fast" ,"n":1}';
    assert.equal(
      rewriteModel(Buffer.from(body), 'gpt-"4"')!.toString(),
      '{"meta":{"model":"x"},"note":"\\"model\\": \\"y\\"", "model" :  "gpt-\\"4\\"" ,"n":1}',
    );
    assert.equal(rewriteModel(Buffer.from('{"contents":[{"model":"a"}]}'), 'b'), null);
  });
});
