import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MockUpstream } from '../fixtures/llm-upstream.js';
import { chat, messages, post, startGateway } from '../gateway/helpers.js';

describe('accounting of gateway requests', () => {
  it('books every request and its exact tokens to the key\'s user and the service', async () => {
    const oa = await MockUpstream.start({ dialect: 'openai', name: 'oa', usage: { prompt: 21, completion: 9 } });
    const an = await MockUpstream.start({ dialect: 'anthropic', name: 'an', usage: { prompt: 13, completion: 5 } });
    const gw = await startGateway({
      channels: [
        { name: 'oa', kind: 'openai', baseUrl: oa.baseUrl, keys: ['k'], models: ['gpt-*'] },
        { name: 'an', kind: 'anthropic', baseUrl: an.baseUrl, keys: ['k'], models: ['claude-*'] },
      ],
    }, { users: [{ id: 'alice', keys: ['ka'] }, { id: 'bob', keys: ['kb'] }] });
    try {
      assert.equal((await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'), { authorization: 'Bearer ka' })).status, 200);
      assert.equal((await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o', { stream: true, stream_options: { include_usage: true } }), { authorization: 'Bearer ka' })).status, 200);
      assert.equal((await post(`${gw.url}/v1/messages`, messages('claude-3', { stream: true }), { 'x-api-key': 'kb' })).status, 200);
      const accounting = gw.runtime.accounting;
      const alice = accounting.usage('alice')!;
      assert.equal(alice.live.requests, 2);
      assert.equal(alice.live.tokens, 60);
      const bob = accounting.usage('bob')!;
      assert.equal(bob.live.requests, 1);
      assert.equal(bob.live.tokens, 18);
      const metrics = await accounting.metrics.metrics();
      assert.match(metrics, /tidegate_service_tokens_total\{service="llm"\} 78/);
      assert.match(metrics, /tidegate_user_requests_total\{user="alice"\} 2/);
    } finally {
      await gw.close();
      await oa.close();
      await an.close();
    }
  });
});
