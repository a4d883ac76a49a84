import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MockUpstream } from '../fixtures/llm-upstream.js';
import { channel, withGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';
import { chat } from '../helpers/llm.js';

describe('gateway: session affinity', () => {
  const gatewayConfig = (a: MockUpstream, b: MockUpstream) => ({
    strategy: 'round-robin',
    retries: 1,
    affinity: { bodyField: 'metadata.user_id', maxEntries: 100, ttl: '1h' },
    breaker: { consecutiveFailures: 1, openFor: '1m' },
    channels: [channel(a), channel(b)],
  });
  const gw = withGateway({ upstreams: { a: 'openai', b: 'openai' }, gateway: ({ a, b }) => gatewayConfig(a, b) });
  const { a, b } = gw.up;
  const detail = () => gw.detail<{ affinity: Record<string, number> }>().affinity;

  async function ask(session: string | null, body: Record<string, unknown> = chat('gpt-4o')): Promise<string> {
    const r = await post(`${gw.url}/v1/chat/completions`, body, session === null ? {} : { 'x-session-id': session });
    assert.equal(r.status, 200);
    return String(r.headers['x-tidegate-channel']);
  }

  it('the same x-session-id sticks to one channel (round-robin would alternate)', async () => {
    const first = await ask('s1');
    for (let i = 0; i < 5; i++) assert.equal(await ask('s1'), first);
    const free = [await ask(null), await ask(null)];
    assert.notEqual(free[0], free[1]);
  });

  it('a body field (affinity.bodyField) works as the session key too', async () => {
    const body = chat('gpt-4o', { metadata: { user_id: 'u-42' } });
    const first = await ask(null, body);
    for (let i = 0; i < 4; i++) assert.equal(await ask(null, body), first);
  });

  it('an entry pointing at an open-circuit channel is dropped and re-chosen, never followed', async () => {
    const home = await ask('s2');
    const up = home === 'a' ? a : b;
    // Open the home channel's circuit with a request of no session.
    up.script.push({ kind: 'status', status: 500 });
    let opened = false;
    for (let i = 0; i < 4 && !opened; i++) {
      await ask(null);
      const ch = gw.channel(home);
      opened = ch.breaker.state === 'open';
    }
    assert.ok(opened, 'home channel circuit should be open');
    const before = up.requests.length;
    const dropped = detail().dropped!;
    const now = await ask('s2');
    assert.notEqual(now, home);
    assert.equal(up.requests.length, before, 'the open channel must not be tried');
    assert.equal(detail().dropped, dropped + 1);
    // The session now sticks to its new channel.
    assert.equal(await ask('s2'), now);
  });

  it('an entry pointing at a removed channel is dropped and re-chosen after a reload', async () => {
    // Fresh channels (new names, fresh breakers) over the same upstreams.
    const renamed = [channel(a, { name: 'c1' }), channel(b, { name: 'c2' })];
    await gw.reload({ ...gatewayConfig(a, b), channels: renamed });
    const home = await ask('s3');
    const keep = home === 'c1' ? 'c2' : 'c1';
    await gw.reload({ ...gatewayConfig(a, b), channels: renamed.filter((c) => c.name === keep) });
    assert.equal(await ask('s3'), keep);
  });
});

describe('gateway: affinity table is a bounded LRU', () => {
  const gw = withGateway({
    upstreams: { a: 'openai' },
    gateway: ({ a }) => ({ affinity: { maxEntries: 3 }, channels: [channel(a)] }),
  });

  it('never holds more than maxEntries, evicting the least recently used', async () => {
    for (const s of ['1', '2', '3', '4', '5']) {
      await post(`${gw.url}/v1/chat/completions`, chat('m'), { 'x-session-id': s });
    }
    const aff = gw.detail<{ affinity: Record<string, number> }>().affinity;
    assert.equal(aff.size, 3);
    assert.equal(aff.evicted, 2);
  });
});
