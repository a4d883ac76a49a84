import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULTS } from '../../src/config/defaults.js';
import type { ResolverConfig } from '../../src/config/types.js';
import { NameResolver } from '../../src/relay/resolver/name-resolver.js';
import { dnsServer, type DnsServer } from '../fixtures/dns-server.js';
import { echoServer } from '../fixtures/tcp.js';
import { httpConnect, socks5Connect } from '../helpers/proxy-client.js';
import { connectTo, readAll } from '../helpers/sockets.js';
import { engines, startTidegate } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

/** A clock the test moves by hand. */
function manualClock(): { now: () => number; advance(ms: number): void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

function settings(dns: DnsServer, extra: Partial<ResolverConfig> = {}): ResolverConfig {
  return { ...DEFAULTS.resolver, servers: [dns.address], hostsFile: null, ...extra };
}

async function code(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return 'resolved';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}

describe('name resolver (c-ares against a DNS server on 127.0.0.1)', () => {
  let dns: DnsServer;
  before(async () => {
    dns = await dnsServer();
  });
  after(() => dns.close());

  it('asks for A and AAAA, keeps the answer for its TTL, asks again once it passed', async () => {
    dns.records.set('ttl.test', { addresses: ['127.0.0.7', '::1'], ttl: 30 });
    const clock = manualClock();
    const resolver = new NameResolver(settings(dns), clock.now);
    assert.deepEqual(await resolver.resolve('ttl.test'), ['127.0.0.7', '::1']);
    const asked = dns.queries.filter((q) => q.startsWith('ttl.test')).length;
    assert.equal(asked, 2);
    clock.advance(29_000);
    assert.deepEqual(await resolver.resolve('TTL.test'), ['127.0.0.7', '::1']);
    assert.equal(dns.queries.filter((q) => q.startsWith('ttl.test')).length, 2, 'cached within the TTL');
    clock.advance(1_000);
    dns.records.set('ttl.test', { addresses: ['127.0.0.8'], ttl: 30 });
    assert.deepEqual(await resolver.resolve('ttl.test'), ['127.0.0.8']);
    assert.equal(dns.queries.filter((q) => q.startsWith('ttl.test')).length, 4, 'asked again after the TTL');
    const stats = resolver.stats();
    assert.equal(stats.hits, 1);
    assert.equal(stats.misses, 2);
    assert.equal(stats.expired, 1);
    assert.equal(stats.queries, 2);
  });

  it('clamps TTLs to [minTtl, maxTtl]', async () => {
    dns.records.set('long.test', { addresses: ['127.0.0.9'], ttl: 86_400 });
    dns.records.set('zero.test', { addresses: ['127.0.0.10'], ttl: 0 });
    const clock = manualClock();
    const resolver = new NameResolver(settings(dns, { minTtlMs: 5_000, maxTtlMs: 60_000 }), clock.now);
    await resolver.resolve('long.test');
    await resolver.resolve('zero.test');
    clock.advance(4_999);
    await resolver.resolve('zero.test');
    assert.equal(resolver.stats().queries, 2, 'a 0 s TTL is held for minTtl');
    clock.advance(1);
    await resolver.resolve('zero.test');
    assert.equal(resolver.stats().queries, 3);
    clock.advance(55_000);
    await resolver.resolve('long.test');
    assert.equal(resolver.stats().queries, 4, 'a day-long TTL is held for maxTtl only');
  });

  it('caches a name without addresses for negativeTtl (NXDOMAIN and empty answers)', async () => {
    dns.records.set('gone.test', { addresses: [], ttl: 30, nxdomain: true });
    dns.records.set('empty.test', { addresses: [], ttl: 30 });
    const clock = manualClock();
    const resolver = new NameResolver(settings(dns, { negativeTtlMs: 10_000 }), clock.now);
    assert.equal(await code(resolver.resolve('gone.test')), 'ENOTFOUND');
    assert.equal(await code(resolver.resolve('empty.test')), 'ENOTFOUND');
    assert.equal(await code(resolver.resolve('gone.test')), 'ENOTFOUND');
    assert.equal(resolver.stats().queries, 2);
    assert.equal(resolver.stats().negativeHits, 1);
    clock.advance(10_000);
    dns.records.set('gone.test', { addresses: ['127.0.0.11'], ttl: 30 });
    assert.deepEqual(await resolver.resolve('gone.test'), ['127.0.0.11']);
    assert.equal(resolver.stats().queries, 3);
  });

  it('shares one query among concurrent resolutions of a name', async () => {
    dns.records.set('busy.test', { addresses: ['127.0.0.12'], ttl: 30 });
    const resolver = new NameResolver(settings(dns));
    dns.hold();
    const all = Array.from({ length: 5 }, () => resolver.resolve('busy.test'));
    await eventually(() => dns.queries.filter((q) => q.startsWith('busy.test')).length === 2);
    dns.release();
    const results = await Promise.all(all);
    for (const r of results) assert.deepEqual(r, ['127.0.0.12']);
    assert.equal(dns.queries.filter((q) => q.startsWith('busy.test')).length, 2);
    assert.equal(resolver.stats().queries, 1);
    assert.equal(resolver.stats().deduplicated, 4);
  });

  it('answers IP literals, localhost and hosts-file names without a query', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tg-hosts-'));
    try {
      const hosts = join(dir, 'hosts');
      await writeFile(hosts, '# comment\n127.0.0.13  filed.test alias.test\n::1 filed.test # v6 too\n');
      const resolver = new NameResolver(settings(dns, { hostsFile: hosts }));
      const before = dns.queries.length;
      assert.deepEqual(await resolver.resolve('127.0.0.1'), ['127.0.0.1']);
      assert.deepEqual(await resolver.resolve('::1'), ['::1']);
      assert.deepEqual(await resolver.resolve('localhost'), ['127.0.0.1']);
      assert.deepEqual(await resolver.resolve('Filed.Test'), ['127.0.0.13', '::1']);
      assert.deepEqual(await resolver.resolve('alias.test'), ['127.0.0.13']);
      assert.equal(dns.queries.length, before);
      assert.equal(resolver.stats().hostsEntries, 2);
      // Read again on reconfigure (a reload).
      await writeFile(hosts, '127.0.0.14 filed.test\n');
      await resolver.reconfigure(settings(dns, { hostsFile: hosts }));
      assert.deepEqual(await resolver.resolve('filed.test'), ['127.0.0.14']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a forward target given as a name is resolved once per TTL, not per connection', async () => {
    const echo = await echoServer();
    dns.records.set('target.test', { addresses: ['127.0.0.1'], ttl: 60 });
    let t = 5_000_000;
    const tg = await startTidegate({
      resolver: { servers: [dns.address], hostsFile: null },
      services: [{ name: 'fw', type: 'forward', listen: '127.0.0.1:0', targets: [`target.test:${echo.port}`] }],
    }, { clock: () => t });
    try {
      const asked = (): number => dns.queries.filter((q) => q.startsWith('target.test')).length;
      for (let i = 0; i < 3; i++) {
        const socket = await connectTo(tg.port('fw'));
        const echoed = readAll(socket);
        socket.end(`hello ${i}`);
        assert.equal((await echoed).toString(), `hello ${i}`);
      }
      assert.equal(asked(), 2, 'one A and one AAAA question for three connections');
      t += 60_000;
      const socket = await connectTo(tg.port('fw'));
      const echoed = readAll(socket);
      socket.end('again');
      assert.equal((await echoed).toString(), 'again');
      assert.equal(asked(), 4, 'asked again once the TTL passed');
      const stats = tg.runtime.caches().resolver;
      assert.equal(stats.queries, 2);
      assert.equal(stats.hits, 2);
      assert.ok(stats.hitRate > 0);
    } finally {
      await tg.stop();
      await echo.close();
    }
  });

  it('a name whose first address refuses is reached at its next one (the native engine redials)', async () => {
    const echo = await echoServer();
    // Nothing listens on 127.0.0.2 at the echo server's port: the first connect is refused.
    dns.records.set('two.test', { addresses: ['127.0.0.2', '127.0.0.1'], ttl: 60 });
    for (const engine of engines()) {
      const tg = await startTidegate({
        resolver: { servers: [dns.address], hostsFile: null },
        services: [{
          name: 'px', type: 'proxy', listen: '127.0.0.1:0', routing: 'direct', allowDestinations: ['127.0.0.0/8'],
        }],
      }, { engine });
      try {
        const socks = await socks5Connect(tg.port('px'), 'two.test', echo.port);
        assert.equal(socks.reply, 0, `${engine.kind}: reached`);
        const echoed = readAll(socks.socket);
        socks.socket.end('second address');
        assert.equal((await echoed).toString(), 'second address');
        const connect = await httpConnect(tg.port('px'), `two.test:${echo.port}`);
        assert.equal(connect.status, 200, `${engine.kind}: CONNECT reached`);
        connect.socket.destroy();
      } finally {
        await tg.stop();
      }
    }
    await echo.close();
  });

  it('the proxy resolves names with it and the guard checks every address (one denied refuses the name)', async () => {
    const echo = await echoServer();
    dns.records.set('ok.test', { addresses: ['127.0.0.1'], ttl: 60 });
    dns.records.set('mixed.test', { addresses: ['127.0.0.1', '169.254.169.254'], ttl: 60 });
    dns.records.set('nowhere.test', { addresses: [], ttl: 60, nxdomain: true });
    const tg = await startTidegate({
      resolver: { servers: [dns.address], hostsFile: null },
      services: [{
        name: 'px', type: 'proxy', listen: '127.0.0.1:0', routing: 'direct', allowDestinations: ['127.0.0.0/8'],
      }],
    });
    try {
      const port = tg.port('px');
      const ok = await httpConnect(port, `ok.test:${echo.port}`);
      assert.equal(ok.status, 200);
      const echoed = readAll(ok.socket);
      ok.socket.end('through');
      assert.equal((await echoed).toString(), 'through');
      const socks = await socks5Connect(port, 'ok.test', echo.port);
      assert.equal(socks.reply, 0);
      socks.socket.destroy();
      const mixed = await httpConnect(port, `mixed.test:${echo.port}`);
      assert.equal(mixed.status, 403);
      const body = JSON.parse((await readAll(mixed.socket)).toString()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'TG_ERR_DESTINATION_DENIED');
      assert.match(body.error.message, /mixed\.test:\d+ \(169\.254\.169\.254:\d+\) is refused/);
      assert.equal((await socks5Connect(port, 'mixed.test', echo.port)).reply, 0x02);
      assert.equal((await socks5Connect(port, 'nowhere.test', echo.port)).reply, 0x04);
      assert.equal(dns.queries.filter((q) => q.startsWith('ok.test')).length, 2, 'CONNECT and SOCKS5 share one');
    } finally {
      await tg.stop();
      await echo.close();
    }
  });
});
