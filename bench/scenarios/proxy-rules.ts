/**
 * `npm run bench -- proxy-rules`: what one routing decision costs with 100k rules, to decide where matching runs.
 *  1. 100k inline rules (70k domain/domainSuffix rules, 30k `ip` rules, 100 keywords): compile time, then ns per
 *     decision for names (hits and misses) and IP literals, one RouteQuery per decision as the router makes it.
 *  2. One 100k-line rule-set file (50k names, 50k CIDRs): parse time and ns per decision.
 *     Also over 1,000 distinct destinations repeated (a browser's working set), where the keyword cache pays.
 *  3. The pool's cost for comparison: main-thread µs per GeoIP lookup sent to the pool in batches (the smallest
 *     task a pool hop carries today). Matching belongs in the pool only if it costs more than that hop.
 */
import { dirname, join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { ProxyRuleConfig } from '../../src/config/types.js';
import { createGeoResolver } from '../../src/geo/resolver.js';
import { createLogger } from '../../src/log.js';
import { createWorkerPool } from '../../src/pool/pool.js';
import { parseRuleSet } from '../../src/relay/proxy/rules/rule-set-file.js';
import { RouteQuery, RuleTable } from '../../src/relay/proxy/rules/rule-table.js';
import { parseIp } from '../../src/util/ip.js';
import type { BenchContext, BenchMetric, BenchReport, BenchScenario } from '../types.js';

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function metric(name: string, path: string, unit: string, samples: number[]): BenchMetric {
  return { name, path, unit, better: 'lower', samples, median: median(samples) };
}

/** A deterministic name like `w123.n456.example7.com`. */
function nameOf(i: number): string {
  return `n${i}.example${i % 97}.com`;
}

function ipOf(i: number): string {
  return `${(i >>> 16) % 200 + 11}.${(i >>> 8) & 255}.${i & 255}.0`;
}

function inlineRules(): ProxyRuleConfig[] {
  const rules: ProxyRuleConfig[] = [];
  for (let i = 0; i < 100; i++) {
    rules.push({ match: { kind: 'domainKeyword', values: [`kw${i}x`] }, action: 'reject' });
  }
  for (let i = 0; i < 70_000; i++) {
    const kind = i % 7 < 4 ? 'domainSuffix' : 'domain';
    rules.push({ match: { kind, values: [nameOf(i)] }, action: i % 2 === 0 ? 'direct' : 'upstream' });
  }
  for (let i = 0; i < 30_000; i++) {
    rules.push({ match: { kind: 'ip', values: [`${ipOf(i * 3)}/24`] }, action: 'direct' });
  }
  return rules;
}

function ruleSetText(): string {
  const lines: string[] = [];
  for (let i = 0; i < 50_000; i++) lines.push(i % 3 === 0 ? `full:${nameOf(i)}` : `domain:${nameOf(i)}`);
  for (let i = 0; i < 50_000; i++) lines.push(`${ipOf(i * 5)}/24`);
  return lines.join('\n');
}

/** Destinations: a quarter names that hit, a quarter names that miss, half IP literals (hits and misses). */
function destinations(n: number): { hosts: string[] } {
  const hosts: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = (Math.imul(i, 2654435761) >>> 0) % 60_000;
    switch (i % 4) {
      case 0: hosts.push(`www.${nameOf(k)}`); break;
      case 1: hosts.push(`api.m${k}.other${k % 13}.net`); break;
      case 2: hosts.push(ipOf(k * 3).replace(/0$/, '9')); break;
      default: hosts.push(`${200 + (k % 20)}.1.${k & 255}.7`);
    }
  }
  return { hosts };
}

/** ns per decision over `hosts`, as the router runs it (a query per decision; names treated as unresolvable). */
function decide(table: RuleTable, hosts: readonly string[]): number {
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < hosts.length; i++) {
    const host = hosts[i]!;
    const key = parseIp(host);
    const q = new RouteQuery(key === null ? host : null, 443, key === null ? null : host, key);
    let rule = table.evaluate(q);
    while (rule < -1) {
      q.resolved = true;
      q.countryKnown = true;
      rule = table.evaluate(q);
    }
    sink += rule;
  }
  const ns = Number(process.hrtime.bigint() - t0) / hosts.length;
  return sink === Number.MIN_SAFE_INTEGER ? -1 : ns;
}

export const scenario: BenchScenario = {
  name: 'proxy-rules',
  description: 'proxy routing rules: ns per decision with 100k inline rules and a 100k-line rule set, vs a pool hop',
  async run(ctx: BenchContext): Promise<BenchReport> {
    const metrics: BenchMetric[] = [];
    const notes: string[] = [];
    const n = ctx.quick ? 100_000 : 400_000;
    const { hosts } = destinations(n);
    const compileMs: number[] = [];
    const inlineNs: number[] = [];
    const hotNs: number[] = [];
    const hot = Array.from({ length: n }, (_, i) => hosts[i % 1000]!);
    const parseMs: number[] = [];
    const setNs: number[] = [];
    const poolUs: number[] = [];
    const rules = inlineRules();
    const text = ruleSetText();
    const pool = createWorkerPool(
      { threads: 2, jsonOffloadBytes: 0, maxQueue: 256, idleTimeoutMs: 60_000 }, createLogger('silent'),
      { jsonOffloadBytes: 0 },
    );
    try {
      const geo = createGeoResolver({ database: 'embedded', lists: [], cacheSize: 0 }, pool, createLogger('silent'));
      await geo.ready();
      const ips = hosts.filter((h) => parseIp(h) !== null).slice(0, 20_000);
      for (let r = 0; r < ctx.rounds; r++) {
        let t0 = performance.now();
        const table = new RuleTable(rules, new Map());
        compileMs.push(performance.now() - t0);
        decide(table, hosts.slice(0, 10_000));
        inlineNs.push(decide(table, hosts));
        hotNs.push(decide(table, hot));
        t0 = performance.now();
        const set = parseRuleSet(text, 'bench.txt', 'auto');
        const setTable = new RuleTable(
          [{ match: { kind: 'ruleSet', values: ['s'] }, action: 'direct' }], new Map([['s', set]]),
        );
        parseMs.push(performance.now() - t0);
        decide(setTable, hosts.slice(0, 10_000));
        setNs.push(decide(setTable, hosts));
        // The pool hop: main-thread time per lookup, batches of up to 512 per event-loop turn.
        const elu0 = performance.eventLoopUtilization();
        for (let i = 0; i < ips.length; i += 2000) {
          await Promise.all(ips.slice(i, i + 2000).map((ip) => Promise.resolve(geo.country(ip))));
        }
        poolUs.push((performance.eventLoopUtilization(elu0).active * 1000) / ips.length);
        ctx.log(`round ${r + 1}: 100k inline rules ${inlineNs.at(-1)!.toFixed(0)} ns/decision`
          + ` (${hotNs.at(-1)!.toFixed(0)} over 1k hot destinations)`
          + ` (compile ${compileMs.at(-1)!.toFixed(0)} ms); 100k-line set ${setNs.at(-1)!.toFixed(0)} ns/decision`
          + ` (parse ${parseMs.at(-1)!.toFixed(0)} ms); pool hop ${poolUs.at(-1)!.toFixed(2)} µs main thread/item`);
      }
    } finally {
      await pool.close();
    }
    metrics.push(metric('nsPerDecision', 'inline-100k-rules', 'ns', inlineNs));
    metrics.push(metric('nsPerDecision', 'inline-100k-rules-hot1k', 'ns', hotNs));
    metrics.push(metric('compileMs', 'inline-100k-rules', 'ms', compileMs));
    metrics.push(metric('nsPerDecision', 'rule-set-100k-lines', 'ns', setNs));
    metrics.push(metric('parseMs', 'rule-set-100k-lines', 'ms', parseMs));
    metrics.push(metric('mainThreadUsPerItem', 'pool-hop-geo', 'µs', poolUs));
    const worst = Math.max(median(inlineNs), median(setNs)) / 1000;
    const ratio = median(poolUs) / worst;
    notes.push(`a decision costs ${worst.toFixed(2)} µs at most on the main thread; a pool hop costs the main thread`
      + ` ${median(poolUs).toFixed(2)} µs per item (${ratio.toFixed(2)}x) before the worker does any work and adds`
      + ' a round trip of latency: offloading would not make the main thread cheaper, so matching stays inline.');
    notes.push('measured on a shared 2-core machine: compare within this run.');
    return {
      scenario: 'proxy-rules', metrics,
      ratios: [{ name: 'pool hop / decision (main-thread µs)', value: ratio }],
      notes,
    };
  },
};

/** `node dist/bench/scenarios/proxy-rules.js [--quick] [--rounds N]` runs this scenario alone. */
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const quick = process.argv.includes('--quick');
  const ri = process.argv.indexOf('--rounds');
  const rounds = ri > 0 ? Number(process.argv[ri + 1]) : quick ? 1 : 3;
  const resultsDir = join(dirname(fileURLToPath(import.meta.url)), '../../../bench/results');
  const report = await scenario.run({ rounds, quick, resultsDir, log: (m) => console.error(m) });
  await mkdir(resultsDir, { recursive: true });
  console.log(JSON.stringify({ metrics: report.metrics.map((m) => [m.name, m.path, m.median]), notes: report.notes }));
}
