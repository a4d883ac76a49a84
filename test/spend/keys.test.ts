import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, it } from 'node:test';
import { validateConfig } from '../../src/config/schema.js';
import { redactConfig } from '../../src/config/redact.js';
import { ConfigError } from '../../src/errors.js';
import { channel, withGateway } from '../helpers/gateway.js';

const ask = { model: 'gpt-4o', max_tokens: 5, messages: [{ role: 'user' as const, content: 'hi' }] };

describe('spend: keys as objects { key, name, quota, limits, expires }', () => {
  const gw = withGateway({
    upstreams: {
      oa: { dialect: 'openai', usage: { prompt: 2, completion: 8 } },
      an: { dialect: 'anthropic', usage: { prompt: 2, completion: 8 } },
    },
    gateway: ({ oa, an }) => ({
      channels: [channel(oa, { models: ['gpt-*'] }), channel(an, { models: ['claude-*'] })],
    }),
    users: [
      {
        id: 'team',
        keys: [
          'k-plain',
          { key: 'k-ten', name: 'ci', limits: { rpm: 10 } },
          { key: 'k-req', name: 'batch', quota: { requests: 2, period: 'daily' } },
          { key: 'k-old', name: 'old', expires: '2020-01-01' },
          { key: 'k-anth', name: 'anth', quota: { tokens: 15 } },
        ],
      },
    ],
  });

  it('an rpm: 10 key gets 429 with Retry-After and the x-ratelimit headers on its 11th request', async () => {
    const client = new OpenAI({ apiKey: 'k-ten', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    for (let i = 0; i < 10; i++) {
      const { response } = await client.chat.completions.create(ask).withResponse();
      assert.equal(response.headers.get('x-ratelimit-limit-requests'), '10');
      assert.equal(response.headers.get('x-ratelimit-remaining-requests'), String(9 - i));
    }
    const before = gw.up.oa.requests.length;
    await assert.rejects(client.chat.completions.create(ask), (err: unknown) => {
      assert.ok(err instanceof OpenAI.RateLimitError, String(err));
      assert.equal(err.code, 'TG_ERR_RATE_LIMITED');
      assert.match(err.message, /key "ci" is over its rpm limit/);
      const h = err.headers!;
      assert.ok(Number(h.get('retry-after')) >= 1);
      assert.equal(h.get('x-ratelimit-limit-requests'), '10');
      assert.equal(h.get('x-ratelimit-remaining-requests'), '0');
      assert.match(h.get('x-ratelimit-reset-requests')!, /^\d+(ms|s|m\d+s)$/);
      return true;
    });
    assert.equal(gw.up.oa.requests.length, before, 'refused before any upstream request');
    // The user's other keys are not held by this key's limit.
    const plain = new OpenAI({ apiKey: 'k-plain', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const { response } = await plain.chat.completions.create(ask).withResponse();
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-ratelimit-limit-requests'), null);
  });

  it('a key\'s request budget: 429 quota_exceeded naming the key on its third request', async () => {
    const client = new OpenAI({ apiKey: 'k-req', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await client.chat.completions.create(ask);
    await client.chat.completions.create(ask);
    await assert.rejects(client.chat.completions.create(ask), (err: unknown) => {
      assert.ok(err instanceof OpenAI.RateLimitError, String(err));
      assert.equal((err.error as { type?: string }).type, 'quota_exceeded');
      assert.match(err.message, /key "batch" has used its requests budget/);
      return true;
    });
  });

  it('a key\'s token budget on /v1/messages (Anthropic SDK): refused once its tokens are booked', async () => {
    const client = new Anthropic({ apiKey: 'k-anth', baseURL: gw.url, maxRetries: 0 });
    const body = { model: 'claude-3', max_tokens: 1, messages: [{ role: 'user' as const, content: 'hi' }] };
    // 10 tokens booked per answer (2 + 8): the second still fits under 15, the third does not.
    await client.messages.create(body);
    await client.messages.create(body);
    await assert.rejects(client.messages.create(body), (err: unknown) => {
      assert.ok(err instanceof Anthropic.RateLimitError, String(err));
      assert.match(err.message, /key "anth" has used its tokens budget/);
      return true;
    });
  });

  it('an expired key gets 401; the plain string form still works', async () => {
    const old = new OpenAI({ apiKey: 'k-old', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await assert.rejects(old.chat.completions.create(ask), (err: unknown) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, String(err));
      assert.match(err.message, /API key "old" has expired/);
      return true;
    });
    const plain = new OpenAI({ apiKey: 'k-plain', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    assert.equal((await plain.chat.completions.create(ask)).object, 'chat.completion');
  });

  it('bad key objects are config errors with their paths; printed configs hide the key', () => {
    try {
      validateConfig({
        users: [
          { id: 'a', keys: [{ key: 'x', name: 'n', limits: { rpm: 0 } }, { key: 'y', name: 'n', bogus: 1 }] },
          { id: 'b', keys: [{ name: 'nokey', quota: { tokens: -1 } }, { key: 'x' }] },
        ],
      });
      assert.fail('expected a config error');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.issues.map((i) => i.path), [
        'users[0].keys[0].limits.rpm', 'users[0].keys[1].bogus', 'users[0].keys[1].name', 'users[1].keys[0].key',
        'users[1].keys[0].quota.tokens', 'users[1].keys[1].key',
      ]);
    }
    const config = validateConfig({ users: [{ id: 'a', keys: ['plain', { key: 'secret', name: 'ci' }] }] });
    const printed = JSON.stringify(redactConfig(config));
    assert.ok(!printed.includes('secret') && !printed.includes('plain'), printed);
    assert.deepEqual(config.users[0]!.keys, ['plain', 'secret']);
    assert.equal(config.users[0]!.keyConfigs[0]!.name, 'ci');
  });
});
