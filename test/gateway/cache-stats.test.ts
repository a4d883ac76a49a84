import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';
import { chat } from '../helpers/llm.js';

describe('gateway: cache figures for GET /cache', () => {
  const gw = withGateway({ upstreams: { oa: 'openai' } });

  it('reports the affinity table size and hit rate', async () => {
    for (let i = 0; i < 3; i++) {
      assert.equal(
        (await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'), { 'x-session-id': 'sess-1' })).status, 200,
      );
    }
    const caches = gw.runtime.caches();
    assert.equal(caches.geo, null, 'no service uses GeoIP');
    type AffinityStats = { size: number; hits: number; misses: number; hitRate: number; max: number };
    const affinity = (caches.services.llm as { affinity: AffinityStats }).affinity;
    assert.equal(affinity.size, 1);
    assert.equal(affinity.max, 10_000);
    assert.equal(affinity.misses, 1);
    assert.equal(affinity.hits, 2);
    assert.ok(Math.abs(affinity.hitRate - 2 / 3) < 1e-9);
  });
});
