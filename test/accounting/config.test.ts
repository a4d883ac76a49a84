import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { documentToConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

function issues(doc: Record<string, unknown>): { path: string; message: string }[] {
  try {
    documentToConfig({ admin: { listen: 'off' }, ...doc }, 'test');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return [...err.issues];
  }
  assert.fail('expected a ConfigError');
}

function pathsOf(doc: Record<string, unknown>): string[] {
  return issues(doc).map((i) => i.path);
}

describe('quota, rate and sync settings: bad values are config errors with paths', () => {
  it('rejects bad quota bytes, direction, period, time zone and expiry', () => {
    const found = issues({
      users: [
        { id: 'a', quota: { bytes: 'lots' } },
        { id: 'b', quota: { bytes: '1GiB', direction: 'sideways' } },
        { id: 'c', quota: { bytes: '1GiB', period: 'weekly' } },
        { id: 'd', quota: { bytes: '1GiB', timezone: 'Mars/Olympus' } },
        { id: 'e', quota: { bytes: '1GiB', expires: 'someday' } },
        { id: 'f', quota: {} },
        { id: 'g', quota: { bytes: -5 } },
        { id: 'h', quota: { bytes: '1GiB', burst: 3 } },
      ],
    });
    const paths = found.map((i) => i.path);
    for (const p of [
      'users[0].quota.bytes', 'users[1].quota.direction', 'users[2].quota.period', 'users[3].quota.timezone',
      'users[4].quota.expires', 'users[5].quota.bytes', 'users[6].quota.bytes',
    ]) assert.ok(paths.includes(p), `${p} in ${paths.join(', ')}`);
    assert.ok(paths.some((p) => p.startsWith('users[7].quota')), 'unknown quota keys are named');
    assert.match(found.find((i) => i.path === 'users[1].quota.direction')!.message, /"total", "in", "out"/);
  });

  it('rejects bad user and service rates', () => {
    const paths = pathsOf({
      users: [{ id: 'a', rate: { in: 'fast' } }, { id: 'b', rate: {} }, { id: 'c', rate: { out: -1 } }],
      services: [{
        name: 's', type: 'forward', listen: '127.0.0.1:0', targets: ['127.0.0.1:1'], rate: { in: '10 parsecs' },
      }],
    });
    for (const p of ['users[0].rate.in', 'users[1].rate', 'users[2].rate.out', 'services[0].rate.in']) {
      assert.ok(paths.includes(p), `${p} in ${paths.join(', ')}`);
    }
  });

  it('rejects bad sync settings', () => {
    const paths = pathsOf({ store: { sync: { interval: 'soon', batchSize: 0, maxPending: 'many' } } });
    for (const p of ['store.sync.interval', 'store.sync.batchSize', 'store.sync.maxPending']) {
      assert.ok(paths.includes(p), `${p} in ${paths.join(', ')}`);
    }
  });

  it('accepts and normalizes good values', () => {
    const config = documentToConfig({
      admin: { listen: 'off' },
      store: { sync: { interval: '30s', batchSize: 50, maxPending: 800 } },
      users: [{
        id: 'a', quota: { bytes: '1GiB', direction: 'out', period: 'monthly', timezone: 'Asia/Shanghai' },
        rate: { in: '1MiB/s' },
      }],
    }, 'test');
    assert.deepEqual(config.store.sync, { intervalMs: 30_000, batchSize: 50, maxPending: 800 });
    assert.equal(config.users[0]!.quota!.bytes, 1024 ** 3);
    assert.equal(config.users[0]!.rate!.inBytesPerSec, 1024 * 1024);
    assert.equal(config.users[0]!.rate!.outBytesPerSec, 0);
  });
});
