import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { usageGateway, withGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';
import { chat, messages } from '../helpers/llm.js';

describe('accounting of gateway requests', () => {
  const gw = withGateway(usageGateway());

  it('books every request and its exact tokens to the key\'s user and the service', async () => {
    const url = `${gw.url}/v1/chat/completions`;
    assert.equal((await post(url, chat('gpt-4o'), { authorization: 'Bearer ka' })).status, 200);
    const withUsage = chat('gpt-4o', { stream: true, stream_options: { include_usage: true } });
    assert.equal((await post(url, withUsage, { authorization: 'Bearer ka' })).status, 200);
    assert.equal(
      (await post(`${gw.url}/v1/messages`, messages('claude-3', { stream: true }), { 'x-api-key': 'kb' })).status, 200,
    );
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
  });
});
