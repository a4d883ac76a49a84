import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MockUpstream } from '../fixtures/llm-upstream.js';
import { chat, post, startGateway, type StartedGateway } from './helpers.js';

describe('gateway: session affinity', () => {
  let a: MockUpstream;
  let b: MockUpstream;
  let gw: StartedGateway;
  let gatewayConfig: Record<string, unknown>;
  const detail = () => (gw.runtime.status().services[0]!.detail as { affinity: Record<string, number> }).affinity;

  before(async () => {
    a = await MockUpstream.start({ dialect: 'openai', name: 'a' });
    b = await MockUpstream.start({ dialect: 'openai', name: 'b' });
    gatewayConfig = {
      strategy: 'round-robin',
      retries: 1,
      affinity: { bodyField: 'metadata.user_id', maxEntries: 100, ttl: '1h' },
      breaker: { consecutiveFailures: 1, openFor: '1m' },
      channels: [
        { name: 'a', kind: 'openai', baseUrl: a.baseUrl, keys: ['k'] },
        { name: 'b', kind: 'openai', baseUrl: b.baseUrl, keys: ['k'] },
      ],
    };
    gw = await startGateway(gatewayConfig);
  });
  after(async () => {
    await gw.close();
    await a.close();
    await b.close();
  });

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
      const ch = (gw.runtime.status().services[0]!.detail as { channels: { name: string; breaker: { state: string } }[] }).channels.find((c) => c.name === home)!;
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
    const fresh = [
      { name: 'c1', kind: 'openai', baseUrl: a.baseUrl, keys: ['k'] },
      { name: 'c2', kind: 'openai', baseUrl: b.baseUrl, keys: ['k'] },
    ];
    await gw.reload({ ...gatewayConfig, channels: fresh });
    const home = await ask('s3');
    const keep = home === 'c1' ? 'c2' : 'c1';
    await gw.reload({ ...gatewayConfig, channels: fresh.filter((c) => c.name === keep) });
    assert.equal(await ask('s3'), keep);
  });
});

describe('gateway: affinity table is a bounded LRU', () => {
  let a: MockUpstream;
  let gw: StartedGateway;
  before(async () => {
    a = await MockUpstream.start({ dialect: 'openai', name: 'a' });
    gw = await startGateway({ affinity: { maxEntries: 3 }, channels: [{ name: 'a', kind: 'openai', baseUrl: a.baseUrl, keys: ['k'] }] });
  });
  after(async () => {
    await gw.close();
    await a.close();
  });

  it('never holds more than maxEntries, evicting the least recently used', async () => {
    for (const s of ['1', '2', '3', '4', '5']) await post(`${gw.url}/v1/chat/completions`, chat('m'), { 'x-session-id': s });
    const aff = (gw.runtime.status().services[0]!.detail as { affinity: Record<string, number> }).affinity;
    assert.equal(aff.size, 3);
    assert.equal(aff.evicted, 2);
  });
});
