import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';
import { chat, messages } from '../helpers/llm.js';

describe('gateway: quotas', () => {
  const gw = withGateway({
    upstreams: { oa: 'openai' },
    users: [
      { id: 'spent', keys: ['k-spent'], quota: { bytes: 0 } },
      { id: 'gone', keys: ['k-gone'], quota: { bytes: '1GiB', expires: '2000-01-01' } },
      { id: 'fine', keys: ['k-fine'], quota: { bytes: '1GiB' } },
    ],
  });
  const upstream = gw.up.oa;

  it('refuses a user over quota or past expiry with 429 in the endpoint\'s dialect, '
    + 'and serves the others', async () => {
    const spent = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'), { authorization: 'Bearer k-spent' });
    assert.equal(spent.status, 429);
    const body = (await spent.json()) as { error: { type: string; code: string; message: string } };
    assert.equal(body.error.type, 'quota_exceeded');
    assert.equal(body.error.code, 'TG_ERR_QUOTA_EXCEEDED');
    assert.match(body.error.message, /user "spent" has used its quota/);

    const gone = await post(`${gw.url}/v1/messages`, messages('claude-3'), { 'x-api-key': 'k-gone' });
    assert.equal(gone.status, 429);
    const anthropic = (await gone.json()) as { type: string; error: { type: string } };
    assert.equal(anthropic.type, 'error');
    assert.equal(anthropic.error.type, 'quota_expired');

    const fine = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'), { authorization: 'Bearer k-fine' });
    assert.equal(fine.status, 200);
    assert.equal(upstream.requests.length, 1, 'refused requests never reach an upstream');
    assert.equal(gw.runtime.accounting.usage('spent')!.live.tokens, 0);
  });
});
