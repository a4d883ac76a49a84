import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, it } from 'node:test';
import { periodKey } from '../../src/accounting/period.js';
import { validateConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { channel, withGateway } from '../helpers/gateway.js';
import { flushedRows, usageOf } from './harness.js';

const N = 100;
const MAX_TOKENS = 10;

describe('spend: token, request and cost budgets', () => {
  const gw = withGateway({
    sqlite: true,
    upstreams: {
      oa: { dialect: 'openai', usage: { prompt: 2, completion: 8 }, chunkDelayMs: 5 },
      an: { dialect: 'anthropic', usage: { prompt: 2, completion: 8 } },
    },
    gateway: ({ oa, an }) => ({ channels: [channel(oa, { models: ['gpt-*'] }), channel(an,
      { models: ['claude-*'] })] }),
    users: [
      { id: 'tok', keys: ['k-tok'], quota: { tokens: N, period: 'daily' } },
      { id: 'req', keys: ['k-req'], quota: { requests: 3, period: 'monthly', resetDay: 15 } },
      { id: 'usd', keys: ['k-usd'], quota: { cost: '0.0004USD' } },
      { id: 'adm', keys: ['k-adm'], quota: { requests: 2, period: 'monthly' } },
    ],
    config: { prices: { '*': { input: 10, output: 20 } } },
  });

  it('20 concurrent streams, a 100-token budget: 429 quota_exceeded, overshoot within the bound', async () => {
    const client = new OpenAI({ apiKey: 'k-tok', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const one = async (): Promise<'ok' | 'refused'> => {
      try {
        const stream = await client.chat.completions.create({
          model: 'gpt-4o', max_tokens: MAX_TOKENS, stream: true, messages: [{ role: 'user', content: 'hello there' }],
        });
        for await (const _ of stream) { /* drain */ }
        return 'ok';
      } catch (err) {
        assert.ok(err instanceof OpenAI.RateLimitError, String(err));
        assert.equal((err.error as { type?: string }).type, 'quota_exceeded');
        assert.equal(err.code, 'TG_ERR_QUOTA_EXCEEDED');
        return 'refused';
      }
    };
    const upstreamBefore = gw.up.oa.requests.length;
    const first = await Promise.all(Array.from({ length: 20 }, one));
    assert.ok(first.includes('refused'), 'some of the 20 were refused while the others held reservations');
    const admitted = first.filter((r) => r === 'ok').length;
    assert.equal(gw.up.oa.requests.length - upstreamBefore, admitted, 'a refused request never reached the upstream');
    // Then one at a time until the budget is used up.
    let last: 'ok' | 'refused' = 'ok';
    for (let i = 0; i < 20 && last === 'ok'; i++) last = await one();
    assert.equal(last, 'refused');
    const rows = (await flushedRows(gw)).filter((r) => r.user === 'tok' && r.status === 200);
    const booked = rows.reduce((sum, r) => sum + (r.total_tokens as number), 0);
    // The bound: one request's worst case (its input estimate + max_tokens) past the budget.
    const estimate = Math.ceil('hello there'.length / 4) + 2;
    assert.ok(booked >= N, `the budget was used: ${booked}`);
    assert.ok(booked <= N + estimate + MAX_TOKENS, `booked ${booked} <= ${N} + ${estimate + MAX_TOKENS}`);
    const usage = usageOf(gw, 'tok');
    assert.ok(((usage.live as Record<string, number>).tokens) === booked);
  });

  it('a request budget answers in the Anthropic dialect on /v1/messages (official SDK)', async () => {
    const client = new Anthropic({ apiKey: 'k-req', baseURL: gw.url, maxRetries: 0 });
    for (let i = 0; i < 3; i++) {
      await client.messages.create({ model: 'claude-3', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    }
    await assert.rejects(
      client.messages.create({ model: 'claude-3', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
      (err: unknown) => {
        assert.ok(err instanceof Anthropic.RateLimitError, String(err));
        assert.equal((err.error as { error?: { type?: string } }).error?.type, 'quota_exceeded');
        return true;
      },
    );
  });

  it('only admitted requests spend a request budget: refusals before any upstream attempt do not', async () => {
    const bad = async (): Promise<number> => (await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: 'Bearer k-adm', 'content-type': 'application/json' }, body: '{"model":',
    })).status;
    const requests = (): number => ((usageOf(gw, 'adm').spend as { spent: { requests: number } }).spent.requests);
    // Refused before any upstream attempt (400): nothing spent.
    for (let i = 0; i < 3; i++) assert.equal(await bad(), 400);
    assert.equal(requests(), 0);
    const client = new OpenAI({ apiKey: 'k-adm', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const ask = { model: 'gpt-4o', max_tokens: 5, messages: [{ role: 'user' as const, content: 'hi' }] };
    await client.chat.completions.create(ask);
    await client.chat.completions.create(ask);
    assert.equal(requests(), 2);
    // Used up: each 429 quota_exceeded is refused before the upstream and spends nothing more.
    for (let i = 0; i < 3; i++) {
      await assert.rejects(client.chat.completions.create(ask), (err: unknown) => err instanceof OpenAI.RateLimitError);
    }
    assert.equal(requests(), 2);
  });

  it('a cost budget: refused once the booked cost reaches it', async () => {
    const client = new OpenAI({ apiKey: 'k-usd', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    // Each request: 2 input × 10 + 8 output × 20 = 180 micro-USD; the budget is 400.
    let served = 0;
    for (let i = 0; i < 5; i++) {
      try {
        await client.chat.completions.create({ model: 'gpt-4o', max_tokens: 8, messages: [{ role: 'user',
          content: 'hi' }] });
        served++;
      } catch (err) {
        assert.ok(err instanceof OpenAI.RateLimitError);
        break;
      }
    }
    assert.equal(served, 3);
    assert.equal((usageOf(gw, 'usd').live as Record<string, number>).costMicros, 3 * 180);
  });

  it('periods with a reset day; budgets in the prices\' currency, checked with their paths', () => {
    const q = validateConfig({ users: [{ id: 'u', quota: { requests: 1, period: 'monthly',
      resetDay: 15 } }] }).users[0]!.quota;
    assert.equal(periodKey(q, Date.parse('2026-11-14T12:00:00Z')), 'm:2026-10@15');
    assert.equal(periodKey(q, Date.parse('2026-11-15T00:00:00Z')), 'm:2026-11@15');
    assert.equal(periodKey(q, Date.parse('2026-01-03T00:00:00Z')), 'm:2025-12@15');
    const paths = (doc: Record<string, unknown>): string[] => {
      try {
        validateConfig(doc);
        return [];
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.issues.map((i) => i.path);
      }
    };
    assert.deepEqual(paths({ prices: { '*': { input: 1, output: 1 } }, users: [{ id: 'u', quota: { cost: '5EUR' } }] }),
      ['users[0].quota.cost']);
    assert.deepEqual(paths({ users: [{ id: 'u', quota: { cost: '5USD' } }] }), ['users[0].quota.cost']);
    assert.deepEqual(paths({ users: [{ id: 'u', quota: { tokens: 0, requests: -1, resetDay: 31, cost: 'lots' } }] }),
      ['users[0].quota.cost', 'users[0].quota.tokens', 'users[0].quota.requests', 'users[0].quota.resetDay']);
  });
});
