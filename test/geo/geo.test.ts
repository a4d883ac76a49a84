import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Reader, type Response } from 'maxmind';
import type { GeoConfig } from '../../src/config/schema.js';
import { GeoDatabaseError } from '../../src/errors.js';
import { createGeoResolver, embeddedDatabasePath, parseIp, parseRangeList, RangeTable } from '../../src/geo/index.js';
import { LruCache } from '../../src/util/lru-cache.js';
import type { WorkerPool } from '../../src/pool/index.js';
import { makePool, silent } from '../pool/helpers.js';

function geoConfig(over: Partial<GeoConfig> = {}): GeoConfig {
  return { database: 'embedded', lists: [], cacheSize: 100, ...over };
}

async function resolve(v: string | null | Promise<string | null>): Promise<string | null> {
  return v;
}

/** Candidate addresses; the expected country of each is read from the .mmdb itself in `before`. */
const CANDIDATES_V4 = ['1.0.1.1', '8.8.8.8', '114.114.114.114', '193.0.14.129', '202.12.27.33', '77.88.8.8'];
const CANDIDATES_V6 = ['2001:4860:4860::8888', '2400:3200::1', '2a02:6b8::feed:0ff', '2001:200:dff:fff1::1'];

describe('GeoIP on the embedded database', () => {
  let pool: WorkerPool;
  const expected = new Map<string, string>();
  before(async () => {
    pool = makePool({ threads: 2 });
    const reader = new Reader<Response>(await readFile(embeddedDatabasePath()));
    for (const ip of [...CANDIDATES_V4, ...CANDIDATES_V6]) {
      const rec = reader.get(ip) as { country_code?: string } | null;
      if (rec?.country_code) expected.set(ip, rec.country_code);
    }
    assert.equal(reader.get('10.1.2.3'), null, 'private space is not in the database');
  });
  after(() => pool.close());

  it('the test set is meaningful: several countries, both families', () => {
    assert.ok(new Set(expected.values()).size >= 3, `countries: ${[...expected.values()].join(',')}`);
    assert.ok(CANDIDATES_V6.filter((ip) => expected.has(ip)).length >= 2);
  });

  it('IPv4 and IPv6 answers match the database; misses of one turn are one batch; hits are synchronous', async () => {
    const geo = createGeoResolver(geoConfig(), pool, silent);
    await geo.ready();
    const ips = [...expected.keys()];
    const answers = await Promise.all(ips.map((ip) => resolve(geo.country(ip))));
    assert.deepEqual(answers, ips.map((ip) => expected.get(ip)));
    assert.equal(geo.stats().batches, 1);
    for (const ip of ips) assert.equal(geo.country(ip), expected.get(ip), 'a cached answer is returned synchronously');
    const st = geo.stats();
    assert.equal(st.hits, ips.length);
    assert.equal(st.misses, ips.length);
    assert.equal(st.hitRate, 0.5);
    assert.equal(st.size, ips.length);
  });

  it('IPv4-mapped IPv6 answers like IPv4; private space and non-addresses are null', async () => {
    const geo = createGeoResolver(geoConfig(), pool, silent);
    await geo.ready();
    assert.equal(await resolve(geo.country('::ffff:1.0.1.1')), expected.get('1.0.1.1'));
    assert.equal(await resolve(geo.country('10.1.2.3')), null);
    assert.equal(geo.country('example.com'), null);
    assert.equal(geo.country('999.1.1.1'), null);
  });

  it('the same address asked twice in one turn is looked up once', async () => {
    const geo = createGeoResolver(geoConfig(), pool, silent);
    const a = geo.country('8.8.8.8');
    const b = geo.country('8.8.8.8');
    assert.equal(a, b);
    assert.equal(await resolve(a), expected.get('8.8.8.8'));
    assert.equal(geo.stats().batches, 1);
  });

  it('cacheSize bounds the cache', async () => {
    const geo = createGeoResolver(geoConfig({ cacheSize: 2 }), pool, silent);
    await Promise.all(['1.0.1.1', '8.8.8.8', '114.114.114.114'].map((ip) => resolve(geo.country(ip))));
    assert.equal(geo.stats().size, 2);
  });
});

describe('GeoIP on user lists and range files', () => {
  let pool: WorkerPool;
  let dir: string;
  before(async () => {
    pool = makePool({ threads: 1 });
    dir = await mkdtemp(join(tmpdir(), 'tg-geo-'));
    await writeFile(
      join(dir, 'cn.txt'),
      '# chnroutes-style\n10.1.0.0/16\n192.0.2.10 192.0.2.20\n\n2001:db8::/32 ; documentation\n8.8.8.0/24\n',
    );
    await writeFile(
      join(dir, 'ranges.csv'),
      '1.2.3.0,1.2.3.255,JP\n203.0.113.0/24 DE\n2001:200::,2001:200:ffff:ffff:ffff:ffff:ffff:ffff,jp\n',
    );
    await writeFile(join(dir, 'broken.txt'), '10.0.0.0/8\n10.0.0.0/99\n');
    await writeFile(join(dir, 'corrupt.mmdb'), (await readFile(embeddedDatabasePath())).subarray(0, 4096));
    await writeFile(join(dir, 'garbage.mmdb'), Buffer.alloc(5000, 7));
  });
  after(async () => {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a CIDR / range list is checked before the database, IPv4 and IPv6', async () => {
    const geo = createGeoResolver(geoConfig({ lists: [{ country: 'CN', file: join(dir, 'cn.txt') }] }), pool, silent);
    await geo.ready();
    const ask = [
      '10.1.255.255', '10.2.0.0', '192.0.2.10', '192.0.2.20', '192.0.2.21', '2001:db8:ffff::1', 'fd00::1', '8.8.8.8',
    ];
    const got = await Promise.all(ask.map((ip) => resolve(geo.country(ip))));
    assert.deepEqual(got, ['CN', null, 'CN', 'CN', null, 'CN', null, 'CN']);
  });

  it('a range file as the database: "start,end,CC" and "CIDR CC" lines', async () => {
    const geo = createGeoResolver(geoConfig({ database: join(dir, 'ranges.csv') }), pool, silent);
    await geo.ready();
    const got = await Promise.all(
      ['1.2.3.4', '1.2.4.0', '203.0.113.77', '2001:200::1', '2001:201::1'].map((ip) => resolve(geo.country(ip))),
    );
    assert.deepEqual(got, ['JP', null, 'DE', 'JP', null]);
  });

  it('a missing database fails ready() with an error naming the file', async () => {
    const file = join(dir, 'nope.mmdb');
    const geo = createGeoResolver(geoConfig({ database: file }), pool, silent);
    await assert.rejects(geo.ready(), (e: unknown) => e instanceof GeoDatabaseError && e.code === 'TG_ERR_GEO_DATABASE' && e.file === file && /not found/.test(e.message));
  });

  it('a truncated or garbage .mmdb fails ready() clearly', async () => {
    for (const name of ['corrupt.mmdb', 'garbage.mmdb']) {
      const file = join(dir, name);
      const geo = createGeoResolver(geoConfig({ database: file }), pool, silent);
      await assert.rejects(geo.ready(), (e: unknown) => e instanceof GeoDatabaseError && e.file === file && /MaxMind/.test(e.message));
    }
  });

  it('a bad list line fails ready() with file and line', async () => {
    const file = join(dir, 'broken.txt');
    const geo = createGeoResolver(geoConfig({ lists: [{ country: 'CN', file }] }), pool, silent);
    await assert.rejects(geo.ready(), (e: unknown) => e instanceof GeoDatabaseError && e.file === file && /line 2: expected a prefix length/.test(e.message));
  });

  it('lookups after a failed open answer null and never throw', async () => {
    const geo = createGeoResolver(geoConfig({ database: join(dir, 'nope.mmdb') }), pool, silent);
    assert.equal(await resolve(geo.country('1.1.1.1')), null);
    assert.equal(geo.stats().failedBatches, 1);
  });
});

describe('geo building blocks', () => {
  it('parseIp: IPv4, IPv6 with ::, embedded dotted quad, zone', () => {
    assert.deepEqual(parseIp('1.2.3.4'), { v: 4, n: 0x01020304 });
    assert.deepEqual(parseIp('::ffff:1.2.3.4'), { v: 4, n: 0x01020304 });
    assert.deepEqual(parseIp('2001:db8::1'), { v: 6, hex: '20010db8000000000000000000000001' });
    assert.deepEqual(parseIp('::'), { v: 6, hex: '0'.repeat(32) });
    assert.deepEqual(parseIp('64:ff9b::1.2.3.4'), { v: 6, hex: '0064ff9b000000000000000001020304' });
    assert.equal(parseIp('1.2.3'), null);
  });

  it('RangeTable: overlaps keep the first country, adjacent same-country ranges merge', () => {
    const t = new RangeTable([
      ...parseRangeList('10.0.0.0/8 US\n10.1.0.0/16 CN\n11.0.0.0 11.0.0.255 US\n11.0.1.0/24 US\n', 'x', null),
    ]);
    assert.equal(t.lookup(parseIp('10.1.2.3')!), 'US');
    assert.equal(t.lookup(parseIp('11.0.1.9')!), 'US');
    assert.equal(t.size, 1);
  });

  it('parseRangeList errors: country missing, bad country, reversed range', () => {
    assert.throws(() => parseRangeList('1.0.0.0/8\n', 'f', null), /line 1: expected a country code/);
    assert.throws(() => parseRangeList('1.0.0.0/8 CHN\n', 'f', null), /two-letter/);
    assert.throws(() => parseRangeList('1.0.0.9 1.0.0.1 US\n', 'f', null), /start is after end/);
  });

  it('LruCache evicts the least recently used entry', () => {
    const c = new LruCache<string | null>(2);
    c.set('a', 'A');
    c.set('b', null);
    assert.equal(c.get('a'), 'A');
    c.set('c', 'C');
    assert.equal(c.get('b'), undefined);
    assert.equal(c.get('a'), 'A');
    assert.equal(c.get('c'), 'C');
    assert.equal(c.size, 2);
    const off = new LruCache<string>(0);
    off.set('x', 'y');
    assert.equal(off.size, 0);
  });
});
