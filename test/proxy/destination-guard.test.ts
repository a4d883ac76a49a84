import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DestinationGuard } from '../../src/relay/proxy/destination-guard.js';
import { OwnListeners } from '../../src/relay/proxy/own-listeners.js';
import { parseCidrWithPort } from '../../src/util/cidr.js';

function guard(
  allowDestinations: string[] = [], denyPrivate = false, own: OwnListeners | null = null,
): DestinationGuard {
  return new DestinationGuard({ allowDestinations, denyPrivate }, own);
}

describe('destination guard', () => {
  it('refuses loopback, unspecified, link-local, multicast and their IPv4-mapped forms by default', () => {
    const g = guard();
    const cases: [string, string][] = [
      ['127.0.0.1', 'loopback'], ['127.255.1.2', 'loopback'], ['::1', 'loopback'], ['0:0:0:0:0:0:0:1', 'loopback'],
      ['0.0.0.0', 'unspecified'], ['::', 'unspecified'],
      ['169.254.169.254', 'link-local'], ['fe80::1', 'link-local'], ['febf::1', 'link-local'],
      ['224.0.0.1', 'multicast'], ['239.255.255.250', 'multicast'], ['ff02::1', 'multicast'],
      ['255.255.255.255', 'broadcast'],
      ['::ffff:127.0.0.1', 'loopback'], ['::ffff:7f00:1', 'loopback'], ['0:0:0:0:0:ffff:a9fe:a9fe', 'link-local'],
      ['::ffff:0.0.0.0', 'unspecified'],
    ];
    for (const [ip, reason] of cases) assert.equal(g.check(ip, 80), reason, ip);
  });

  it('allows public and (by default) private addresses; denyPrivate refuses RFC 1918, 100.64/10 and fc00::/7', () => {
    const open = guard();
    const strict = guard([], true);
    for (const ip of ['93.184.216.34', '2606:2800:220:1::1', '8.8.8.8', '172.32.0.1', '100.128.0.1', 'fec0::1']) {
      assert.equal(open.check(ip, 443), null, ip);
      assert.equal(strict.check(ip, 443), null, ip);
    }
    for (const ip of [
      '10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1', '100.127.255.255', 'fc00::1', 'fdff::1',
      '::ffff:10.1.2.3',
    ]) {
      assert.equal(open.check(ip, 443), null, ip);
      assert.equal(strict.check(ip, 443), 'private', ip);
    }
    assert.equal(guard(['10.0.0.0/8:443'], true).check('10.2.3.4', 443), null);
    assert.equal(guard(['10.0.0.0/8:443'], true).check('10.2.3.4', 80), 'private');
  });

  it('allowDestinations opens CIDRs, CIDR:port, [v6]:port and bare IPv6 CIDRs', () => {
    const g = guard(['127.0.0.1/32', '127.1.0.0/16:8080', '[::1]:9000', 'fe80::/10', '169.254.169.254']);
    assert.equal(g.check('127.0.0.1', 1), null);
    assert.equal(g.check('127.0.0.2', 1), 'loopback');
    assert.equal(g.check('127.1.2.3', 8080), null);
    assert.equal(g.check('127.1.2.3', 8081), 'loopback');
    assert.equal(g.check('::1', 9000), null);
    assert.equal(g.check('::1', 9001), 'loopback');
    assert.equal(g.check('fe80::abcd', 5), null);
    assert.equal(g.check('169.254.169.254', 80), null);
    assert.equal(g.check('::ffff:127.0.0.1', 3), null, 'an IPv4-mapped address matches its IPv4 entry');
    assert.equal(g.check('not-an-ip', 80), 'not an IP address');
  });

  it("refuses tidegate's own listeners unless an entry names their port; "
    + 'a wildcard listener stands for every local address', () => {
    const own = new OwnListeners();
    own.publish([{ host: '127.0.0.1', port: 9090 }, { host: '0.0.0.0', port: 1080 }, { host: '10.9.8.7', port: 2222 }]);
    const g = guard(['127.0.0.0/8', '10.0.0.0/8'], false, own);
    assert.equal(g.check('127.0.0.1', 9090), 'own listener');
    assert.equal(g.check('127.0.0.1', 9091), null);
    assert.equal(g.check('127.0.0.5', 1080), 'own listener', 'a wildcard listener is reachable on all of 127/8');
    assert.equal(g.check('0.0.0.0', 1080), 'own listener');
    assert.equal(
      g.check('10.9.8.7', 2222), 'own listener',
      'a private own listener is refused although private ranges are allowed',
    );
    assert.equal(g.check('10.9.8.6', 2222), null);
    assert.equal(guard(['127.0.0.1/32:9090'], false, own).check('127.0.0.1', 9090), null);
    assert.equal(guard(['127.0.0.1/32:9090'], false, own).check('127.0.0.1', 9091), 'loopback');
    own.publish([]);
    assert.equal(g.check('127.0.0.1', 9090), null, 'publish replaces the set');
  });

  it('rejects malformed allow-list entries with a message', () => {
    for (const bad of [
      '', 'nonsense', '10.0.0.0/33', '10.0.0.0/8:0', '10.0.0.0/8:65536', '[::1', '[::1]x', '[10.0.0.1]:80',
      '::ffff:1.2.3.4/64', '10.0.0.0/-1', '1.2.3.4:08',
    ]) {
      assert.equal(typeof parseCidrWithPort(bad), 'string', bad);
    }
    const r = parseCidrWithPort('10.1.2.3/8:443');
    assert.ok(typeof r !== 'string');
    assert.equal(r.port, 443);
    assert.ok(r.containsV4(0x0a000000) && r.containsV4(0x0affffff) && !r.containsV4(0x0b000000));
  });
});
