import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { channel, type GatewayView, withGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';
import { chat } from '../helpers/llm.js';
import { eventually } from '../helpers/wait.js';

async function servedBy(
  gw: GatewayView, model: string, n: number, headers: Record<string, string> = {},
): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await post(`${gw.url}/v1/chat/completions`, chat(model), headers);
    assert.equal(r.status, 200);
    out.push(String(r.headers['x-tidegate-channel']));
  }
  return out;
}

function count(names: string[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const n of names) c[n] = (c[n] ?? 0) + 1;
  return c;
}

describe('gateway: balancing strategies and routing rules', () => {
  const gw = withGateway({
    upstreams: { a: 'openai', b: 'openai', c: 'openai', slow: { dialect: 'openai', firstByteDelayMs: 150 } },
    gateway: ({ a, b, c, slow }) => ({
      strategy: 'round-robin',
      channels: [
        channel(a, { keys: ['ka'], weight: 3, priority: 2 }),
        channel(b, { keys: ['kb'], weight: 1, priority: 2 }),
        channel(c, { keys: ['kc1', 'kc2'], weight: 1, priority: 1 }),
        channel(slow, { keys: ['ks'], models: ['lat-*', 'lif-*'] }),
      ],
      rules: [
        { match: { model: 'prio-*' }, channels: ['a', 'b', 'c'], strategy: 'priority' },
        { match: { model: 'w-*' }, channels: ['a', 'b'], strategy: 'weighted' },
        { match: { model: 'rr-*' }, channels: ['a', 'b', 'c'], strategy: 'round-robin' },
        { match: { model: 'lif-*' }, channels: ['slow', 'b'], strategy: 'least-in-flight' },
        { match: { model: 'lat-*' }, channels: ['slow', 'a'], strategy: 'lowest-latency' },
        { match: { model: 'h-*', header: { name: 'x-team', value: 'red' } }, channels: ['c'] },
        { match: { model: 'keys-*' }, channels: ['c'] },
      ],
    }),
  });
  const { slow } = gw.up;

  it('weighted: smooth weighted round-robin gives exactly 3:1 over 8 requests', async () => {
    assert.deepEqual(count(await servedBy(gw, 'w-1', 8)), { a: 6, b: 2 });
  });

  it('priority: only the highest tier serves while it is available, weighted inside the tier', async () => {
    const names = await servedBy(gw, 'prio-1', 8);
    assert.deepEqual(count(names), { a: 6, b: 2 });
  });

  it('round-robin: a, b, c in turn', async () => {
    const names = await servedBy(gw, 'rr-1', 6);
    assert.deepEqual(count(names), { a: 2, b: 2, c: 2 });
    assert.notEqual(names[0], names[1]);
    assert.notEqual(names[1], names[2]);
  });

  it('least-in-flight: a request goes to the channel with nothing in flight', async () => {
    const first = post(`${gw.url}/v1/chat/completions`, chat('lif-1'));
    await eventually(() => slow.requests.length > 0, 5000, 'the slow channel to get the first request');
    // While the slow channel holds one request, the next ones go to b.
    const names = await servedBy(gw, 'lif-1', 3);
    assert.deepEqual(names, ['b', 'b', 'b']);
    assert.equal((await first).headers['x-tidegate-channel'], 'slow');
  });

  it('lowest-latency: once both are measured, the faster channel (EWMA of time to first byte) wins', async () => {
    const names = await servedBy(gw, 'lat-1', 6);
    // Each unmeasured channel is tried once, then the fast one takes every request.
    assert.deepEqual(names.slice(2), ['a', 'a', 'a', 'a']);
    assert.ok(
      names.filter((n) => n === 'slow').length <= 1, `slow served more than its one measuring request: ${names}`,
    );
  });

  it('rules match on headers; without the header the default route applies', async () => {
    assert.deepEqual(await servedBy(gw, 'h-1', 3, { 'x-team': 'red' }), ['c', 'c', 'c']);
    const other = await servedBy(gw, 'h-1', 4);
    assert.ok(other.some((n) => n !== 'c'));
  });

  it('keys of a channel are rotated', async () => {
    const c = gw.up.c;
    const before = c.requests.length;
    await servedBy(gw, 'keys-1', 4);
    const auths = c.requests.slice(before).map((r) => r.headers.authorization);
    assert.deepEqual(auths, ['Bearer kc1', 'Bearer kc2', 'Bearer kc1', 'Bearer kc2']);
  });
});
