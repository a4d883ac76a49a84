import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { validateConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { channel, withGateway } from '../helpers/gateway.js';
import { eventually } from '../helpers/wait.js';

const ask = { model: 'gpt-4o', max_tokens: 5, messages: [{ role: 'user' as const, content: 'hi' }] };

describe('spend: rate limits (rpm, tpm, concurrent) per user and per channel', () => {
  const gw = withGateway({
    upstreams: {
      oa: { dialect: 'openai' },
      tier: { dialect: 'openai', name: 'tier' },
      spare: { dialect: 'openai', name: 'spare' },
      an: { dialect: 'anthropic' },
      slow: { dialect: 'openai', firstByteDelayMs: 300 },
    },
    gateway: ({ oa, tier, spare, an, slow }) => ({
      strategy: 'priority',
      channels: [
        channel(oa, { models: ['gpt-*'] }),
        channel(tier, { models: ['tier-*'], priority: 1, limits: { rpm: 2 } }),
        channel(spare, { models: ['tier-*'], priority: 0 }),
        channel(an, { models: ['claude-*'] }),
        channel(slow, { models: ['slow-*'] }),
      ],
    }),
    users: [
      { id: 'ten', keys: ['k-ten'], limits: { rpm: 10 } },
      { id: 'anth', keys: ['k-anth'], limits: { rpm: 1, tpm: 100000 } },
      { id: 'one', keys: ['k-one'], limits: { concurrent: 1 } },
      { id: 'free', keys: ['k-free'] },
    ],
  });

  it('rpm: 10 gets 429 with Retry-After and the x-ratelimit headers on its 11th request in a minute', async () => {
    const client = new OpenAI({ apiKey: 'k-ten', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    for (let i = 0; i < 10; i++) {
      const { response } = await client.chat.completions.create(ask).withResponse();
      assert.equal(response.headers.get('x-ratelimit-limit-requests'), '10');
      assert.equal(response.headers.get('x-ratelimit-remaining-requests'), String(9 - i));
      assert.match(response.headers.get('x-ratelimit-reset-requests')!, /^\d+(ms|s|m\d+s)$/);
    }
    const before = gw.up.oa.requests.length;
    await assert.rejects(client.chat.completions.create(ask), (err: unknown) => {
      assert.ok(err instanceof OpenAI.RateLimitError, String(err));
      assert.equal(err.code, 'TG_ERR_RATE_LIMITED');
      const h = err.headers!;
      assert.ok(Number(h.get('retry-after')) >= 1);
      assert.equal(h.get('x-ratelimit-limit-requests'), '10');
      assert.equal(h.get('x-ratelimit-remaining-requests'), '0');
      return true;
    });
    assert.equal(gw.up.oa.requests.length, before, 'refused before any upstream request');
  });

  it('the Anthropic endpoint answers with anthropic-ratelimit-* headers, served and refused', async () => {
    const client = new Anthropic({ apiKey: 'k-anth', baseURL: gw.url, maxRetries: 0 });
    const body = { model: 'claude-3', max_tokens: 5, messages: [{ role: 'user' as const, content: 'hi' }] };
    const { response } = await client.messages.create(body).withResponse();
    assert.equal(response.headers.get('anthropic-ratelimit-requests-limit'), '1');
    assert.equal(response.headers.get('anthropic-ratelimit-requests-remaining'), '0');
    assert.equal(response.headers.get('anthropic-ratelimit-tokens-limit'), '100000');
    assert.ok(!Number.isNaN(Date.parse(response.headers.get('anthropic-ratelimit-requests-reset')!)));
    await assert.rejects(client.messages.create(body), (err: unknown) => {
      assert.ok(err instanceof Anthropic.RateLimitError, String(err));
      assert.equal((err.error as { error?: { type?: string } }).error?.type, 'rate_limit_error');
      assert.ok(Number(err.headers?.get('retry-after')) >= 1);
      assert.equal(err.headers?.get('anthropic-ratelimit-requests-remaining'), '0');
      assert.equal(err.headers?.get('x-ratelimit-limit-requests'), null);
      return true;
    });
  });

  it('concurrent: 1 refuses a second request while the first runs', async () => {
    const client = new OpenAI({ apiKey: 'k-one', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    // The first is held at the upstream until the second was refused: "while the first runs" is a state, not a delay.
    let release = (): void => undefined;
    const until = new Promise<void>((resolve) => (release = resolve));
    const slow = gw.up.slow;
    const seen = slow.requests.length;
    slow.script.push({ kind: 'after', until, then: { kind: 'ok' } });
    const first = client.chat.completions.create({ ...ask, model: 'slow-1' });
    try {
      await eventually(() => slow.requests.length > seen, 10_000, 'the first request at the upstream');
      await assert.rejects(client.chat.completions.create(ask), OpenAI.RateLimitError);
    } finally {
      release();
    }
    await first;
    await client.chat.completions.create(ask);
  });

  it('a channel over its own limit is skipped by the balancer: the next one serves', async () => {
    const post = (): Promise<string | string[] | undefined> => request(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: 'Bearer k-free', 'content-type': 'application/json' },
      body: JSON.stringify({ ...ask, model: 'tier-1' }),
    }).then(async (r) => {
      await r.body.dump();
      return r.headers['x-tidegate-channel'];
    });
    assert.deepEqual([await post(), await post(), await post(), await post()], ['tier', 'tier', 'spare', 'spare']);
  });

  it('a limit of 0 or a non-number is a config error with its path', () => {
    try {
      validateConfig({ users: [{ id: 'u', limits: { rpm: 0, tpm: 'x' } }] });
      assert.fail('expected a config error');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.issues.map((i) => i.path), ['users[0].limits.rpm', 'users[0].limits.tpm']);
    }
  });
});
