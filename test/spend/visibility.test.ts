import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { describe, it } from 'node:test';
import { getJson } from '../helpers/http.js';
import { channel, withGateway } from '../helpers/gateway.js';
import { metrics, sample } from './harness.js';

const ask = { model: 'gpt-4o', max_tokens: 5, messages: [{ role: 'user' as const, content: 'hi' }] };

describe('spend: GET /users/:id/usage and /metrics show budgets, limit windows and refusals', () => {
  const gw = withGateway({
    upstreams: {
      oa: { dialect: 'openai', usage: { prompt: 20, completion: 10, cached: 5 } },
      an: { dialect: 'anthropic', usage: { prompt: 7, completion: 3 } },
    },
    gateway: ({ oa, an }) => ({
      // Model label values are the configured names only (globs give none): gpt-4o and claude-3 are written out.
      channels: [channel(oa, { models: ['gpt-4o', 'gpt-*'] }), channel(an, { models: ['claude-3', 'claude-*'] })],
    }),
    users: [{
      id: 'ana',
      keys: ['k-ana', { key: 'k-ci', name: 'ci', limits: { rpm: 2, tpm: 1000 }, quota: { requests: 10 } }],
      quota: { tokens: 1000, cost: '1USD', period: 'monthly' },
      limits: { rpm: 50 },
    }],
    config: { admin: { listen: '127.0.0.1:0' }, prices: { 'gpt-*': { input: 2, output: 8, cacheRead: 1 } } },
  });

  it('usage: tokens by class, cost, remaining budget per period, the user\'s and key\'s windows', async () => {
    const openai = new OpenAI({ apiKey: 'k-ana', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await openai.chat.completions.create(ask);
    const ci = new OpenAI({ apiKey: 'k-ci', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await ci.chat.completions.create(ask);
    await ci.chat.completions.create(ask);
    await assert.rejects(ci.chat.completions.create(ask), (err: unknown) => err instanceof OpenAI.RateLimitError);
    const { status, body } = await getJson(gw.runtime.adminAddress()!, '/users/ana/usage');
    assert.equal(status, 200);
    const spend = body.spend as {
      period: string; currency: string; spent: Record<string, number>;
      budgets: { budget: string; limit: number; used: number; reserved: number; remaining: number }[];
    };
    assert.match(spend.period, /^m:\d{4}-\d{2}$/);
    assert.equal(spend.currency, 'USD');
    // Three answers of 20 prompt (5 of them cached) + 10 completion tokens; the request refused by the key's rpm
    // (before any upstream attempt) spends nothing.
    assert.equal(spend.spent.requests, 3);
    assert.equal(spend.spent.inputTokens, 45);
    assert.equal(spend.spent.cacheReadTokens, 15);
    assert.equal(spend.spent.outputTokens, 30);
    const cost = 3 * (15 * 2 + 5 * 1 + 10 * 8);
    assert.equal(spend.spent.costMicros, cost);
    assert.deepEqual(spend.budgets.map((b) => [b.budget, b.limit, b.used, b.reserved, b.remaining]), [
      ['costMicros', 1_000_000, cost, 0, 1_000_000 - cost],
      ['tokens', 1000, 90, 0, 910],
    ]);
    const limits = (body.limits as Record<string, Record<string, unknown>>).llm!;
    const user = limits.user as Record<string, number | null>;
    assert.equal(user.rpm, 50);
    assert.equal(user.requests, 3);
    assert.equal(user.remainingRequests, 47);
    assert.ok((user.resetMs as number) <= 60_000);
    const key = (limits.keys as Record<string, Record<string, Record<string, unknown>>>).ci!;
    assert.equal(key.limits!.requests, 2);
    assert.equal(key.limits!.remainingRequests, 0);
    assert.equal(key.limits!.tokens, 60);
    assert.equal(key.limits!.remainingTokens, 940);
    const keyBudgets = key.budget!.budgets as { budget: string; used: number; remaining: number }[];
    assert.deepEqual(keyBudgets.map((b) => [b.budget, b.used, b.remaining]), [['requests', 2, 8]]);
  });

  it('/metrics: refusals by reason, tokens by class and cost per channel and model', async () => {
    const claude = new Anthropic({ apiKey: 'k-ana', baseURL: gw.url, maxRetries: 0 });
    await claude.messages.create({ model: 'claude-3', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    const text = await metrics(gw);
    assert.equal(sample(text, 'tidegate_refused_total', 'service="llm",reason="rate_limited"'), 1);
    const gpt = 'service="llm",channel="oa",model="gpt-4o"';
    assert.equal(sample(text, 'tidegate_gateway_model_tokens_total', `${gpt},class="input"`), 45);
    assert.equal(sample(text, 'tidegate_gateway_model_tokens_total', `${gpt},class="cache_read"`), 15);
    assert.equal(sample(text, 'tidegate_gateway_model_tokens_total', `${gpt},class="output"`), 30);
    assert.equal(sample(text, 'tidegate_gateway_model_cost_micros_total', gpt), 3 * (15 * 2 + 5 + 10 * 8));
    assert.equal(sample(text, 'tidegate_gateway_model_requests_total', gpt), 3);
    const claudeLabels = 'service="llm",channel="an",model="claude-3"';
    assert.equal(sample(text, 'tidegate_gateway_model_tokens_total', `${claudeLabels},class="output"`), 3);
    assert.equal(sample(text, 'tidegate_gateway_model_cost_micros_total', claudeLabels), 0, 'unpriced: cost 0');
  });

  it('/metrics: one model rule for spend and traffic metrics: a name no config writes out is `other`', async () => {
    const openai = new OpenAI({ apiKey: 'k-ana', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await openai.chat.completions.create({ ...ask, model: 'gpt-client-chosen' });
    const text = await metrics(gw);
    const other = 'service="llm",channel="oa",model="other"';
    assert.equal(sample(text, 'tidegate_gateway_model_requests_total', other), 1);
    assert.equal(sample(text, 'tidegate_gateway_model_tokens_total', `${other},class="output"`), 10);
    assert.equal(sample(text, 'tidegate_gateway_requests_total', `${other},status="2xx"`), 1);
    const gpt = 'service="llm",channel="oa",model="gpt-4o",status="2xx"';
    assert.equal(sample(text, 'tidegate_gateway_requests_total', gpt), 3);
    assert.ok(!text.includes('gpt-client-chosen'), 'a client-chosen name is never a label value');
  });
});
