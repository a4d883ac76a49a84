/**
 * Name resolution cost: tidegate's resolver (cache hits; and misses, c-ares against a DNS server on 127.0.0.1)
 * against `dns.lookup` (getaddrinfo on libuv's thread pool, for a name in /etc/hosts so no traffic leaves the host).
 *
 *   node dist/bench/resolver-measure.js [resolutions per round=20000] [rounds=3] [concurrency=64]
 *
 * Rounds of each variant are interleaved. Per variant: resolutions per second, and main-thread cost per resolution
 * (event-loop utilisation's active time, i.e. the JS thread only; getaddrinfo's pool threads are not in it) plus
 * process CPU per resolution (all threads). Medians over rounds are printed.
 */
import { lookup } from 'node:dns/promises';
import { performance } from 'node:perf_hooks';
import { DEFAULTS } from '../src/config/defaults.js';
import { NameResolver } from '../src/relay/resolver/name-resolver.js';
import { dnsServer } from '../test/fixtures/dns-server.js';

const total = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 3);
const concurrency = Number(process.argv[4] ?? 64);

interface Sample {
  perSec: number;
  mainUs: number;
  cpuUs: number;
}

async function measure(next: (i: number) => Promise<unknown>): Promise<Sample> {
  const elu = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  const start = performance.now();
  let i = 0;
  async function worker(): Promise<void> {
    while (i < total) await next(i++);
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const ms = performance.now() - start;
  const used = performance.eventLoopUtilization(elu);
  const spent = process.cpuUsage(cpu);
  return {
    perSec: total / (ms / 1000),
    mainUs: (used.active * 1000) / total,
    cpuUs: (spent.user + spent.system) / total,
  };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const dns = await dnsServer();
  for (let n = 0; n < 1000; n++) dns.records.set(`n${n}.bench`, { addresses: ['127.0.0.1'], ttl: 300 });
  dns.records.set('hot.bench', { addresses: ['127.0.0.1'], ttl: 300 });
  const base = { ...DEFAULTS.resolver, servers: [dns.address], hostsFile: null };
  const cached = new NameResolver(base);
  await cached.resolve('hot.bench');
  // cacheSize 0: every resolution is a c-ares query pair (distinct names, so de-duplication does not help).
  const uncached = new NameResolver({ ...base, cacheSize: 0 });
  const variants: Record<string, (i: number) => Promise<unknown>> = {
    'resolver, cached': () => cached.resolve('hot.bench'),
    'resolver, c-ares query': (i) => uncached.resolve(`n${i % 1000}.bench`),
    'dns.lookup (hosts file)': () => lookup('localhost'),
  };
  const samples = new Map<string, Sample[]>(Object.keys(variants).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, run] of Object.entries(variants)) samples.get(name)!.push(await measure(run));
  }
  await dns.close();
  const rows = [...samples].map(([name, s]) => ({
    variant: name,
    perSec: Math.round(median(s.map((x) => x.perSec))),
    mainUsPerResolution: Number(median(s.map((x) => x.mainUs)).toFixed(2)),
    cpuUsPerResolution: Number(median(s.map((x) => x.cpuUs)).toFixed(2)),
  }));
  const lookupRow = rows.find((r) => r.variant.startsWith('dns.lookup'))!;
  console.log(`${total} resolutions per round, ${rounds} rounds interleaved, concurrency ${concurrency}`);
  for (const row of rows) {
    console.log(
      `${row.variant.padEnd(26)} ${String(row.perSec).padStart(9)}/s  main ${row.mainUsPerResolution} µs`
        + `  cpu ${row.cpuUsPerResolution} µs  (${(row.perSec / lookupRow.perSec).toFixed(1)}× dns.lookup's rate)`,
    );
  }
}

void main();
