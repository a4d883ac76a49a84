import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { validateConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { channel, withGateway } from '../helpers/gateway.js';
import { tempDir } from '../helpers/temp.js';
import { flushedRows, metrics, sample, usageOf } from './harness.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/model-prices.json', import.meta.url));

function issues(doc: Record<string, unknown>): { path: string; message: string }[] {
  try {
    validateConfig(doc);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues.map((i) => ({ path: i.path, message: i.message }));
  }
  return [];
}

describe('spend: prices, cost per row and in the meters', () => {
  const dir = tempDir('tidegate-prices-');
  const pricesFile = join(dir, 'prices.json');
  copyFileSync(FIXTURE, pricesFile);
  const top = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    prices: { 'gpt-*': { input: 2.5, output: 10, cacheRead: 1.25 } },
    pricesFile,
    ...extra,
  });
  const gw = withGateway({
    sqlite: true,
    upstreams: {
      oa: { dialect: 'openai', usage: { prompt: 20, completion: 9, cached: 5, reasoning: 3 } },
      an: { dialect: 'anthropic', usage: { prompt: 13, completion: 5, cached: 7, cacheWrite: 4 } },
    },
    gateway: ({ oa, an }) => ({
      channels: [channel(oa, { models: ['gpt-*', 'mystery-*'] }), channel(an, { models: ['claude-*'] })],
    }),
    users: [{ id: 'alice', keys: ['ka'] }],
    config: top(),
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const openai = (): OpenAI => new OpenAI({ apiKey: 'ka', baseURL: `${gw.url}/v1`, maxRetries: 0 });
  const anthropic = (): Anthropic => new Anthropic({ apiKey: 'ka', baseURL: gw.url, maxRetries: 0 });

  it('cost = price × tokens for every class (cache reads at their own price, reasoning at output\'s)', async () => {
    await openai().chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    const row = (await flushedRows(gw)).at(-1)!;
    // 15 input × 2.5 + 5 cache read × 1.25 + 6 output × 10 + 3 reasoning × 10 = 133.75 micro-USD
    assert.equal(row.cost_micros, 134);
  });

  it('a pricesFile in LiteLLM\'s shape prices cache writes too (Anthropic SDK, streamed)', async () => {
    await anthropic().messages.stream({ model: 'claude-3', max_tokens: 50, messages: [{ role: 'user',
      content: 'hi' }] }).finalMessage();
    const row = (await flushedRows(gw)).at(-1)!;
    // 13 input × 3 + 7 cache read × 0.3 + 4 cache write × 3.75 + 5 output × 15 = 131.1
    assert.equal(row.cost_micros, 131);
  });

  it('an unpriced model books cost 0 and is counted; the meters sum the cost', async () => {
    await openai().chat.completions.create({ model: 'mystery-1', messages: [{ role: 'user', content: 'hi' }] });
    const row = (await flushedRows(gw)).at(-1)!;
    assert.equal(row.cost_micros, 0);
    await gw.runtime.accounting.flush();
    const text = await metrics(gw);
    assert.match(text, /^tidegate_unpriced_requests_total 1$/m);
    assert.equal(sample(text, 'tidegate_user_cost_micros_total', 'user="alice"'), 134 + 131);
    const usage = usageOf(gw, 'alice');
    assert.equal((usage.live as Record<string, number>).costMicros, 134 + 131);
  });

  it('a pricesFile that disappears at reload: the reload is refused, the old table stays', async () => {
    rmSync(pricesFile);
    await assert.rejects(gw.reloadFromSource(top({ unpriced: 'refuse' })), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.issues.map((i) => i.path), ['pricesFile']);
      return true;
    });
    await anthropic().messages.create({ model: 'claude-3', max_tokens: 50, messages: [{ role: 'user',
      content: 'hi' }] });
    assert.equal((await flushedRows(gw)).at(-1)!.cost_micros, 131);
    copyFileSync(FIXTURE, pricesFile);
  });

  it('unpriced: refuse answers 403 in the endpoint\'s dialect before any upstream request', async () => {
    await gw.reload(undefined, top({ unpriced: 'refuse' }));
    const { oa } = gw.up;
    const before = oa.requests.length;
    const mystery = { model: 'mystery-2', messages: [{ role: 'user' as const, content: 'hi' }] };
    await assert.rejects(openai().chat.completions.create(mystery), (err: unknown) => {
      assert.ok(err instanceof OpenAI.PermissionDeniedError);
      assert.equal((err as { code?: string }).code, 'TG_ERR_UNPRICED_MODEL');
      return true;
    });
    assert.equal(oa.requests.length, before);
    const r = await openai().chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.usage?.total_tokens, 29);
  });

  it('bad prices are config errors with their paths', () => {
    assert.deepEqual(issues({ prices: { 'gpt-*': { input: -1, output: 'ten' } } }).map((i) => i.path), [
      'prices.gpt-*.input', 'prices.gpt-*.output',
    ]);
    assert.deepEqual(issues({ prices: { a: { input: 1, output: 1, currency: 'EUR' }, b: { input: 1, output: 1 } } })
      .map((i) => i.path), ['prices']);
    const bad = join(fileURLToPath(new URL('.', import.meta.url)), `bad-prices-${process.pid}.json`);
    try {
      writeFileSync(bad, '{"m": {"input_cost_per_token": "cheap"}}');
      assert.deepEqual(issues({ pricesFile: bad }).map((i) => i.path), ['pricesFile["m"].input_cost_per_token']);
      writeFileSync(bad, '[1, 2');
      assert.deepEqual(issues({ pricesFile: bad }).map((i) => i.path), ['pricesFile']);
    } finally {
      rmSync(bad, { force: true });
    }
    assert.deepEqual(issues({ unpriced: 'maybe' }).map((i) => i.path), ['unpriced']);
  });
});
