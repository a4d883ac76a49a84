import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, it } from 'node:test';
import { channel, withGateway } from '../helpers/gateway.js';
import { eventually } from '../helpers/wait.js';

interface Fetched { count: number; names: string[]; fetchedAt: string | null; error: string | null }

describe('gateway: modelsRefresh reads the upstreams\' model lists for /v1/models', () => {
  const gw = withGateway({
    upstreams: {
      oa: { dialect: 'openai', models: ['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small', 'o3'] },
      an: {
        dialect: 'anthropic', models: ['claude-haiku-4-5', 'claude-opus-4-1', 'claude-sonnet-4-5'], modelsPageSize: 2,
      },
    },
    gateway: ({ oa, an }) => ({
      channels: [
        channel(oa, { keys: ['sk-up'], models: ['gpt-*'], modelsRefresh: '1s' }),
        channel(an, { keys: ['sk-an'], models: ['claude-*'], modelMap: { smart: 'claude-sonnet-4-5' },
          modelsRefresh: '1s' }),
      ],
    }),
    users: [{ id: 'team', keys: ['tg-team'] }],
  });

  async function openaiIds(): Promise<string[]> {
    const client = new OpenAI({ apiKey: 'tg-team', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    return ids;
  }

  it('fetched names that the channel\'s globs match are listed, with the declared ones, in each shape', async () => {
    const expected = ['claude-haiku-4-5', 'claude-opus-4-1', 'claude-sonnet-4-5', 'gpt-4o', 'gpt-4o-mini', 'smart'];
    await eventually(async () => JSON.stringify(await openaiIds()) === JSON.stringify(expected), 10_000,
      'the fetched names in /v1/models');
    const anthropic = new Anthropic({ apiKey: 'tg-team', baseURL: gw.url, maxRetries: 0 });
    const ids: string[] = [];
    for await (const m of anthropic.models.list()) ids.push(m.id);
    assert.deepEqual(ids, expected);
    const { oa, an } = gw.up;
    const oaGet = oa.requests.find((r) => r.method === 'GET')!;
    assert.equal(oaGet.path, '/v1/models');
    assert.equal(oaGet.headers.authorization, 'Bearer sk-up');
    const anGets = an.requests.filter((r) => r.method === 'GET').slice(0, 2);
    assert.deepEqual(anGets.map((r) => r.path), [
      '/v1/models?limit=1000', '/v1/models?limit=1000&after_id=claude-opus-4-1',
    ]);
    assert.equal(anGets[0]!.headers['x-api-key'], 'sk-an');
    const status = gw.channel('oa').fetchedModels as unknown as Fetched;
    assert.deepEqual(status.names, ['gpt-4o', 'gpt-4o-mini', 'o3', 'text-embedding-3-small']);
    assert.equal(status.error, null);
    assert.ok(status.fetchedAt !== null);
  });

  it('a failed read keeps the last list and says why in /status; the next good read replaces it', async () => {
    const { oa } = gw.up;
    await eventually(() => (gw.channel('oa').fetchedModels as unknown as Fetched).count === 4, 10_000, 'a first list');
    oa.behaviour = { kind: 'status', status: 503 };
    const failed = await eventually(
      () => gw.channel('oa').fetchedModels as unknown as Fetched, (f) => f.error !== null, 10_000, 'a failed read',
    );
    assert.match(failed.error!, /503/);
    assert.equal(failed.count, 4);
    assert.ok((await openaiIds()).includes('gpt-4o'));
    oa.models = ['gpt-5', 'gpt-4o'];
    oa.behaviour = { kind: 'ok' };
    await eventually(async () => {
      const ids = await openaiIds();
      return ids.includes('gpt-5') && !ids.includes('gpt-4o-mini');
    }, 10_000, 'the new list');
    assert.equal((gw.channel('oa').fetchedModels as unknown as Fetched).error, null);
  });

  it('a reload that drops modelsRefresh stops the reads and the fetched list in /status', async () => {
    const { oa, an } = gw.up;
    await gw.reload({
      channels: [
        channel(oa, { keys: ['sk-up'], models: ['gpt-*'] }),
        channel(an, { keys: ['sk-an'], models: ['claude-*'], modelsRefresh: '1s' }),
      ],
    });
    assert.equal(gw.channel('oa').fetchedModels, null);
    assert.notEqual(gw.channel('an').fetchedModels, null);
    const reads = oa.requests.filter((r) => r.method === 'GET').length;
    // Two of an's refresh intervals: oa's reads stopped, an's go on.
    const anReads = an.requests.filter((r) => r.method === 'GET').length;
    await eventually(() => an.requests.filter((r) => r.method === 'GET').length >= anReads + 4, 10_000, 'an reads');
    assert.equal(oa.requests.filter((r) => r.method === 'GET').length, reads);
  });
});
