import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { DEFAULTS } from '../../src/config/defaults.js';
import { validateConfig } from '../../src/config/schema.js';
import type { ForwardServiceConfig, GatewayServiceConfig, ProxyServiceConfig } from '../../src/config/schema.js';
import { formatHostPort } from '../../src/util/address.js';

/** The least each section accepts: every key the table has a default for is left out. */
const MINIMAL = {
  users: [{ id: 'u', quota: { bytes: '1GiB' }, rate: { in: '1KiB/s' } }],
  services: [
    { name: 'f', type: 'forward', listen: '127.0.0.1:0', targets: ['127.0.0.1:1'] },
    { name: 'p', type: 'proxy', listen: '127.0.0.1:0' },
    {
      name: 'g',
      type: 'gateway',
      listen: '127.0.0.1:0',
      channels: [{ name: 'o', keys: ['k'] }, { name: 'a', kind: 'anthropic', keys: ['k'] }],
    },
  ],
};

/** Asserts that every entry of a table group (recursively) is what the validated config holds at that place. */
function expectDefaults(actual: unknown, group: object, path: string, skip: readonly string[] = []): void {
  for (const [key, expected] of Object.entries(group)) {
    if (skip.includes(key)) continue;
    const value = (actual as Record<string, unknown>)[key];
    const group = expected !== null && typeof expected === 'object' && !Array.isArray(expected);
    if (group) expectDefaults(value, expected, `${path}.${key}`);
    else assert.deepEqual(value, expected, `${path}.${key}`);
  }
}

describe('config defaults table', () => {
  it('is what the schema produces for a minimal config', () => {
    const config = validateConfig(MINIMAL, 'test');
    type Services = [ForwardServiceConfig, ProxyServiceConfig, GatewayServiceConfig];
    const [forward, proxy, gateway] = config.services as Services;
    const [openai, anthropic] = gateway.channels;
    const user = config.users[0]!;

    // Each table group, checked against where it lands; a group added to the table must be added here.
    const checks: Record<keyof typeof DEFAULTS, () => void> = {
      admin: () => {
        assert.equal(config.admin.listen && formatHostPort(config.admin.listen), DEFAULTS.admin.listen);
        expectDefaults(config.admin, DEFAULTS.admin, 'admin', ['listen', 'portRange']);
        const [from, to] = DEFAULTS.admin.portRange.split('-').map(Number);
        assert.deepEqual(config.admin.portRange, { from, to });
        assert.deepEqual(config.admin.tokens, []);
      },
      report: () => {
        assert.equal(config.report, null);
        const on = validateConfig({ report: { url: 'http://127.0.0.1:1/r' } }).report!;
        expectDefaults(on, DEFAULTS.report, 'report');
      },
      user: () => {
        expectDefaults(user, DEFAULTS.user, 'users[0]');
        assert.deepEqual(user.keyHashes, []);
      },
      log: () => expectDefaults(config.log, DEFAULTS.log, 'log'),
      store: () => expectDefaults(config.store, DEFAULTS.store, 'store'),
      pool: () => {
        const threads = Math.max(1, Math.min(availableParallelism(), DEFAULTS.pool.autoThreadsMax));
        assert.equal(DEFAULTS.pool.threads, 'auto');
        assert.equal(config.pool.threads, threads);
        assert.equal(config.pool.maxQueue, threads * DEFAULTS.pool.queuePerThread);
        expectDefaults(config.pool, DEFAULTS.pool, 'pool', ['threads', 'autoThreadsMax', 'queuePerThread']);
      },
      geo: () => {
        expectDefaults(config.geo, DEFAULTS.geo, 'geo');
        assert.deepEqual(config.geo.lists, []);
      },
      resolver: () => expectDefaults(config.resolver, DEFAULTS.resolver, 'resolver'),
      reload: () => expectDefaults(config.reload, DEFAULTS.reload, 'reload'),
      gateway: () => assert.deepEqual(config.gateway, DEFAULTS.gateway),
      shutdownGraceMs: () => assert.equal(config.shutdownGraceMs, DEFAULTS.shutdownGraceMs),
      workers: () => {
        assert.equal(config.workers, DEFAULTS.workers);
        assert.equal(validateConfig({ workers: 'auto' }).workers, Math.max(1, availableParallelism()));
        assert.equal(validateConfig({ workers: 3 }).workers, 3);
      },
      quota: () => expectDefaults(user.quota, DEFAULTS.quota, 'users[0].quota'),
      rate: () => {
        assert.equal(user.rate?.outBytesPerSec, DEFAULTS.rate.outBytesPerSec);
        const outOnly = validateConfig({ users: [{ id: 'u', rate: { out: 1 } }] }).users[0]!.rate;
        expectDefaults(outOnly, DEFAULTS.rate, 'rate', ['outBytesPerSec']);
      },
      service: () => {
        for (const service of config.services) expectDefaults(service, DEFAULTS.service, service.name);
        assert.equal(gateway.rate, null);
      },
      tcp: () => {
        expectDefaults(forward, DEFAULTS.tcp, 'forward');
        expectDefaults(proxy, DEFAULTS.tcp, 'proxy');
      },
      forward: () => expectDefaults(forward, DEFAULTS.forward, 'forward'),
      proxy: () => {
        expectDefaults(proxy, DEFAULTS.proxy, 'proxy');
        assert.deepEqual(proxy.directCountries, []);
        assert.equal(proxy.upstream, null);
      },
      upstream: () => {
        const withUpstreams = validateConfig({
          services: [{
            name: 'p', type: 'proxy', listen: '127.0.0.1:0',
            upstreams: [{ name: 'a', url: 'socks5://127.0.0.1:1' }, { name: 'g', group: ['a'] }],
          }],
        }).services[0] as ProxyServiceConfig;
        assert.deepEqual(proxy.upstreams, []);
        const [a, g] = withUpstreams.upstreams;
        assert.deepEqual(a!.kind === 'proxy' && a!.check, DEFAULTS.upstream.check);
        assert.equal(g!.kind === 'group' && g!.strategy, DEFAULTS.upstream.strategy);
      },
      gatewayService: () => {
        expectDefaults(gateway, DEFAULTS.gatewayService, 'gateway');
        assert.deepEqual(gateway.rules, []);
      },
      price: () => {
        const priced = validateConfig({ prices: { 'gpt-*': { input: 2, output: 8 } } }).pricing.rules[0]!;
        assert.equal(priced.currency, DEFAULTS.price.currency);
      },
      unpriced: () => assert.equal(config.pricing.unpriced, DEFAULTS.unpriced),
      channel: () => {
        expectDefaults(openai, DEFAULTS.channel, 'channels[0]', ['baseUrl']);
        assert.equal(openai!.baseUrl.href, new URL(DEFAULTS.channel.baseUrl.openai).href);
        assert.equal(anthropic!.kind, 'anthropic');
        assert.equal(anthropic!.baseUrl.href, new URL(DEFAULTS.channel.baseUrl.anthropic).href);
      },
    };
    assert.deepEqual(Object.keys(checks).sort(), Object.keys(DEFAULTS).sort());
    for (const check of Object.values(checks)) check();
  });

  it('leaves the empty document with the table values too', () => {
    const config = validateConfig({});
    assert.equal(config.admin.listen && formatHostPort(config.admin.listen), DEFAULTS.admin.listen);
    assert.equal(config.store.sqlite, DEFAULTS.store.sqlite);
    assert.deepEqual(config.gateway, DEFAULTS.gateway);
    assert.deepEqual(config.users, []);
    assert.deepEqual(config.services, []);
  });

  it('is frozen all the way down', () => {
    const unfrozen: string[] = [];
    (function walk(value: object, path: string): void {
      if (!Object.isFrozen(value)) unfrozen.push(path);
      for (const [key, v] of Object.entries(value)) if (v !== null && typeof v === 'object') walk(v, `${path}.${key}`);
    })(DEFAULTS, 'DEFAULTS');
    assert.deepEqual(unfrozen, []);
    assert.throws(() => {
      (DEFAULTS.gatewayService.breaker as { openMs: number }).openMs = 1;
    }, TypeError);
    assert.equal(DEFAULTS.gatewayService.breaker.openMs, 30_000);
  });
});
