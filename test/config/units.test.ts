import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffConfig } from '../../src/config/diff.js';
import { documentToConfig } from '../../src/config/load.js';
import { parseHostPort } from '../../src/util/address.js';
import { parseDuration, parseRate, parseSize } from '../../src/util/units.js';

describe('units and addresses', () => {
  it('parses sizes, rates and durations, and refuses what it cannot read', () => {
    assert.equal(parseSize('10MiB'), 10 * 1024 * 1024);
    assert.equal(parseSize('1.5 GB'), 1.5e9);
    assert.equal(parseSize(4096), 4096);
    assert.equal(parseSize('10 parsecs'), undefined);
    assert.equal(parseSize(-1), undefined);
    assert.equal(parseRate('10MiB/s'), 10 * 1024 * 1024);
    assert.equal(parseDuration('45s'), 45_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('1h30x'), undefined);
    assert.equal(parseDuration(''), undefined);
  });

  it('parses host:port for IPv4, IPv6 and names, with clear errors', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:80'), { host: '127.0.0.1', port: 80 });
    assert.deepEqual(parseHostPort('[::1]:443'), { host: '::1', port: 443 });
    assert.deepEqual(parseHostPort(':8080'), { host: '0.0.0.0', port: 8080 });
    assert.deepEqual(parseHostPort('example.internal:22'), { host: 'example.internal', port: 22 });
    assert.equal(parseHostPort('80'), 'expected host:port, got "80"');
    assert.equal(parseHostPort('::1:80'), 'expected [ipv6]:port for an IPv6 address, got "::1:80"');
    assert.equal(parseHostPort('[nope]:1'), 'expected an IPv6 address in brackets, got "nope"');
  });
});

describe('config diff', () => {
  const base = {
    services: [
      { name: 'keep', type: 'forward', listen: '127.0.0.1:1001', targets: ['127.0.0.1:1'] },
      { name: 'change', type: 'forward', listen: '127.0.0.1:1002', targets: ['127.0.0.1:1'] },
      { name: 'drop', type: 'forward', listen: '127.0.0.1:1003', targets: ['127.0.0.1:1'] },
    ],
  };
  it('finds added, removed, changed and unchanged services by name', () => {
    const before = documentToConfig(base, 'a', {});
    const after = documentToConfig({
      services: [
        base.services[0],
        { ...base.services[1], targets: ['127.0.0.1:2'] },
        { name: 'new', type: 'forward', listen: '127.0.0.1:1004', targets: ['127.0.0.1:1'] },
      ],
      users: [{ id: 'u' }],
    }, 'b', {});
    const diff = diffConfig(before, after);
    assert.deepEqual(diff.added.map((s) => s.name), ['new']);
    assert.deepEqual(diff.removed.map((s) => s.name), ['drop']);
    assert.deepEqual(diff.changed.map((c) => c.after.name), ['change']);
    assert.deepEqual(diff.unchanged.map((s) => s.name), ['keep']);
    assert.deepEqual(diff.sharedChanged, ['users']);
  });
});
