import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { documentToConfig } from '../../src/config/load.js';
import type { GatewayServiceConfig } from '../../src/config/schema.js';
import { Channel } from '../../src/gateway/upstream/channel.js';
import { CHAT, COMPLETIONS, MESSAGES } from '../../src/gateway/routing/endpoints.js';
import { Router } from '../../src/gateway/routing/router.js';

/** A gateway service config through the real validator; channels point at a closed loopback port (never dialed). */
function gatewayConfig(rules: unknown[]): GatewayServiceConfig {
  const config = documentToConfig({
    store: { sqlite: 'off' },
    services: [{
      name: 'llm', type: 'gateway', listen: '127.0.0.1:0',
      channels: [
        { name: 'oa', kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', keys: ['k1'], models: ['gpt-*'] },
        { name: 'an', kind: 'anthropic', baseUrl: 'http://127.0.0.1:9', keys: ['k2'], models: ['claude-*', 'gpt-*'] },
        { name: 'red', kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', keys: ['k3'] },
      ],
      rules,
    }],
  }, 'router.test');
  return config.services[0] as GatewayServiceConfig;
}

function names(route: { channels: readonly Channel[] }): string[] {
  return route.channels.map((c) => c.name);
}

describe('gateway: router and its route cache', () => {
  const channelSets: Map<string, Channel>[] = [];
  function router(rules: unknown[]): Router {
    const config = gatewayConfig(rules);
    const channels = new Map(config.channels.map((c) => [c.name, new Channel(c, config)]));
    channelSets.push(channels);
    return new Router(config, channels);
  }
  after(async () => {
    for (const set of channelSets) for (const c of set.values()) await c.destroy();
  });

  it('narrows channels by model and endpoint, and hands out one cached route per (endpoint, model)', () => {
    const r = router([]);
    const chat = r.route(CHAT, 'gpt-4o', {});
    assert.deepEqual(names(chat), ['oa', 'an', 'red']);
    assert.equal(r.route(CHAT, 'gpt-4o', {}), chat, 'the same route object (its balancing state) is reused');
    assert.deepEqual(names(r.route(CHAT, 'claude-3', {})), ['an', 'red']);
    // Completions are not served by anthropic channels; the same model on another endpoint is its own route.
    assert.deepEqual(names(r.route(COMPLETIONS, 'gpt-4o', {})), ['oa', 'red']);
    assert.notEqual(r.route(MESSAGES, 'gpt-4o', {}), chat);
  });

  it('header rules are decided per request, and routes are cached per matched rule', () => {
    const r = router([{ match: { model: 'gpt-*', header: { name: 'x-team', value: 'red' } }, channels: ['red'] }]);
    const red = r.route(CHAT, 'gpt-4o', { 'x-team': 'red' });
    const other = r.route(CHAT, 'gpt-4o', { 'x-team': 'blue' });
    assert.deepEqual(names(red), ['red']);
    assert.deepEqual(names(other), ['oa', 'an', 'red']);
    assert.equal(r.route(CHAT, 'gpt-4o', { 'x-team': 'red' }), red);
    assert.equal(r.route(CHAT, 'gpt-4o', {}), other);
  });

  it('stays correct past the cache bound (it is emptied and refilled)', () => {
    const r = router([{ match: { model: 'claude-*' }, channels: ['an'] }]);
    const first = r.route(CHAT, 'gpt-0', {});
    for (let i = 1; i < 10_000; i++) {
      const model = i % 2 === 0 ? `gpt-${i}` : `claude-${i}`;
      assert.deepEqual(names(r.route(CHAT, model, {})), i % 2 === 0 ? ['oa', 'an', 'red'] : ['an'], model);
    }
    const again = r.route(CHAT, 'gpt-0', {});
    assert.deepEqual(names(again), names(first));
    assert.notEqual(again, first, 'the early entry was dropped when the cache filled');
    assert.equal(r.route(CHAT, 'gpt-0', {}), again, 'and is cached again');
  });
});
