import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { documentToConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

function issues(doc: unknown, env: Record<string, string> = {}): string[] {
  try {
    documentToConfig(doc, 'test', env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

describe('config validation', () => {
  it('reports every problem at once, each with its path', () => {
    const found = issues({
      services: [
        { name: 'a', type: 'forward', listen: '127.0.0.1:1', targets: ['127.0.0.1:2'] },
        { name: 'b', type: 'forward', listen: '127.0.0.1:3', targets: [] },
        { name: 'c', type: 'forward', listen: '80', targets: ['127.0.0.1:2'] },
      ],
      users: [{ id: 'u', quota: { bytes: 'lots' }, rate: { in: 'fast' } }],
      store: { sync: { interval: 'soon' } },
    });
    assert.ok(found.includes('services[2].listen: expected host:port, got "80"'), found.join('\n'));
    assert.ok(found.includes('services[1].targets: expected at least one target host:port'), found.join('\n'));
    assert.ok(found.some((f) => f.startsWith('users[0].quota.bytes: expected a size like 10MiB')), found.join('\n'));
    assert.ok(found.some((f) => f.startsWith('users[0].rate.in: expected a rate like 10MiB/s')), found.join('\n'));
    assert.ok(found.some((f) => f.startsWith('store.sync.interval: expected a duration')), found.join('\n'));
    assert.equal(found.length, 5, found.join('\n'));
  });

  it('rejects unknown keys, duplicate names and addresses, unknown users and bad types', () => {
    const found = issues({
      servcies: [],
      services: [
        { name: 'a', type: 'forward', listen: '127.0.0.1:9', targets: ['127.0.0.1:2'], user: 'ghost', colour: 'red' },
        { name: 'a', type: 'forward', listen: '127.0.0.1:9', targets: ['127.0.0.1:2'] },
        { name: 'x', type: 'teleport', listen: '127.0.0.1:10' },
        {
          name: 'y', type: 'forward', listen: '127.0.0.1:11', targets: ['127.0.0.1:99999'], maxConnections: -1,
          strategy: 'best',
        },
      ],
    });
    const text = found.join('\n');
    assert.match(text, /^servcies: unknown key/m);
    assert.match(text, /^services\[0\]\.colour: unknown key/m);
    assert.match(text, /^services\[0\]\.user: unknown user "ghost"/m);
    assert.match(text, /^services\[1\]\.name: duplicate service name "a"/m);
    assert.match(text, /^services\[1\]\.listen: 127\.0\.0\.1:9 is already used by service "a"/m);
    assert.match(text, /^services\[2\]\.type: expected one of "forward", "proxy", "gateway", got "teleport"/m);
    assert.match(text, /^services\[3\]\.targets\[0\]: port must be 0-65535, got 99999/m);
    assert.match(text, /^services\[3\]\.maxConnections: expected an integer/m);
    assert.match(text, /^services\[3\]\.strategy: expected one of "round-robin"/m);
  });

  it('normalizes units, fills defaults and freezes the result', () => {
    const config = documentToConfig(
      {
        shutdownGrace: '1m30s',
        users: [{ id: 'alice', quota: { bytes: '1.5GiB', period: 'monthly' }, rate: { in: '10MiB/s', out: 1000 } }],
        services: [{
          name: 'f', type: 'forward', listen: '[::1]:2222', targets: ['127.0.0.1:22', '[::1]:23'], idleTimeout: '250ms',
        }],
      },
      'test',
      {},
    );
    assert.equal(config.shutdownGraceMs, 90_000);
    assert.equal(config.users[0]!.quota!.bytes, Math.floor(1.5 * 1024 ** 3));
    assert.equal(config.users[0]!.quota!.direction, 'total');
    assert.equal(config.users[0]!.rate!.inBytesPerSec, 10 * 1024 * 1024);
    assert.equal(config.users[0]!.rate!.outBytesPerSec, 1000);
    const svc = config.services[0]!;
    assert.deepEqual(svc.listen, { host: '::1', port: 2222 });
    assert.equal(svc.type === 'forward' && svc.targets[1]!.host, '::1');
    assert.equal(svc.type === 'forward' && svc.idleTimeoutMs, 250);
    assert.equal(config.store.sync.intervalMs, 45_000);
    assert.equal(config.admin.listen!.port, 9090);
    assert.ok(
      Object.isFrozen(config) && Object.isFrozen(config.services[0]) && Object.isFrozen(config.users[0]!.quota),
    );
  });

  it('expands ${VAR} and ${VAR:-default}, and reports unset variables with their path', () => {
    const config = documentToConfig(
      {
        admin: { token: '${TOKEN}' }, store: { redis: '${REDIS_URL:-}' },
        users: [{ id: '${WHO:-bob}', keys: ['k-${KEY}'] }],
      },
      'test',
      { TOKEN: 's3cret', KEY: '42' },
    );
    assert.equal(config.admin.token, 's3cret');
    assert.equal(config.store.redis, null);
    assert.equal(config.users[0]!.id, 'bob');
    assert.deepEqual(config.users[0]!.keys, ['k-42']);
    assert.deepEqual(issues({ users: [{ id: 'a', keys: ['${MISSING_KEY}'] }] }), [
      'users[0].keys[0]: environment variable MISSING_KEY is not set (use ${MISSING_KEY:-default} for a default)',
    ]);
  });

  it('validates gateway channels and rules', () => {
    const text = issues({
      services: [{
        name: 'llm', type: 'gateway', listen: '127.0.0.1:8080',
        channels: [{ name: 'main', kind: 'openai', baseUrl: 'ftp://x' }, { name: 'main', kind: 'mistral', keys: ['k'] }],
        rules: [{ match: { model: 'gpt-*' }, channels: ['nope'] }],
        keepAliveTimeout: 'soon',
      }],
    }).join('\n');
    assert.match(text, /services\[0\]\.keepAliveTimeout: expected a duration/);
    assert.match(text, /services\[0\]\.channels\[0\]: expected "keys" or "credentialsDir"/);
    assert.match(text, /services\[0\]\.channels\[0\]\.baseUrl: expected a http or https URL/);
    assert.match(text, /services\[0\]\.channels\[1\]\.name: duplicate channel name "main"/);
    assert.match(text, /services\[0\]\.channels\[1\]\.kind: expected one of "openai", "anthropic"/);
    assert.match(text, /services\[0\]\.rules\[0\]\.channels\[0\]: unknown channel "nope"/);
  });

  it('validates proxy routing and upstream', () => {
    const text = issues({
      services: [
        { name: 'p1', type: 'proxy', listen: '127.0.0.1:1080', routing: 'bypass_cn' },
        { name: 'p2', type: 'proxy', listen: '127.0.0.1:1081', routing: 'upstream', upstream: 'https://x:1' },
        { name: 'p3', type: 'proxy', listen: '127.0.0.1:1082', direct: ['CN', 'china'], upstream: 'socks5://127.0.0.1:1' },
      ],
    }).join('\n');
    assert.match(text, /services\[0\]\.upstream: routing "bypass_cn" sends some destinations upstream/);
    assert.match(text, /services\[1\]\.upstream: expected a socks5 or http URL/);
    assert.match(text, /services\[2\]\.direct\[1\]: expected a two-letter country code, got "CHINA"/);
  });
});
