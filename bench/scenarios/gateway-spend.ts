/**
 * The gateway's spend control on its hot path: the same tidegate gateway (auth, routing, affinity, breaker, usage
 * log) without and with prices, budgets (tokens, requests, cost) and rate limits (rpm, tpm, concurrent) on its user,
 * memory-backed and with `store.redis` (a real redis-server on a free port), chat300 interleaved round by round:
 * req/s and CPU per request. Budgets and limits are set far above the load, so every request is admitted, priced,
 * reserved and settled, and none is refused.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchContext, BenchRatio, BenchReport, BenchScenario } from '../types.js';
import { MetricCollector, medianOf } from '../lib/metric.js';
import { cpuSecondsOf } from '../lib/cpu.js';
import { freePort, waitForPort } from '../lib/ports.js';
import { ManagedProcess } from '../lib/process.js';
import { tidegateAvailable, tidegateCliPath, type TidegateProcess } from '../lib/tidegate.js';
import { CLIENT_KEY, cannon, chatBody, startGatewayTidegate, startUpstream, type Target } from './gateway.js';

type SpendPath = 'plain' | 'spend-memory' | 'spend-redis';

/** Prices, a budget and limits no request of the bench reaches. */
function spendConfig(redisUrl: string | null): Record<string, unknown> {
  return {
    ...(redisUrl === null ? {} : { store: { sqlite: 'off', redis: redisUrl } }),
    prices: { 'gpt-*': { input: 0.15, output: 0.6, cacheRead: 0.075 } },
    users: [{
      id: 'bench', keys: [CLIENT_KEY],
      quota: { tokens: 1e12, requests: 1e12, cost: '1000000USD', period: 'monthly' },
      limits: { rpm: 1e9, tpm: 1e12, concurrent: 100_000 },
    }],
  };
}

async function run(context: BenchContext): Promise<BenchReport> {
  if (!tidegateAvailable()) throw new Error(`tidegate is not built at ${tidegateCliPath()}`);
  const durationS = context.quick ? 3 : 10;
  const notes: string[] = [
    "The load generator, the upstream, redis-server and tidegate share this machine's cores: read ratios.",
    'spend-redis has store.redis on: the rpm / tpm windows are checked and taken in Redis (one script call per ' +
      'request, one per settlement); budgets are counted in the process and their usage synced through Redis.',
  ];
  const collector = new MetricCollector();
  const upstream = await startUpstream();
  const dbDir = await mkdtemp(join(tmpdir(), 'tidegate-spend-bench-'));
  const redisPort = await freePort();
  const redis = new ManagedProcess('redis-server', 'redis-server', [
    '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
  ]);
  const started: TidegateProcess[] = [];
  try {
    await waitForPort(redisPort, 10_000, () => redis.assertAlive());
    const plain = await startGatewayTidegate(upstream.port, dbDir, { label: 'tidegate-plain' });
    started.push(plain.tidegate);
    const memory = await startGatewayTidegate(upstream.port, dbDir, {
      label: 'tidegate-spend-memory', config: spendConfig(null),
    });
    started.push(memory.tidegate);
    const shared = await startGatewayTidegate(upstream.port, dbDir, {
      label: 'tidegate-spend-redis', config: spendConfig(`redis://127.0.0.1:${redisPort}`),
    });
    started.push(shared.tidegate);
    const headers = { authorization: `Bearer ${CLIENT_KEY}`, 'x-session-id': 'bench-session-1' };
    const targets: (Target & { name: SpendPath })[] = [
      { name: 'plain', path: 'tidegate', url: `http://127.0.0.1:${plain.port}`, headers, pid: plain.tidegate.cpuPid },
      {
        name: 'spend-memory', path: 'tidegate', url: `http://127.0.0.1:${memory.port}`, headers,
        pid: memory.tidegate.cpuPid,
      },
      {
        name: 'spend-redis', path: 'tidegate', url: `http://127.0.0.1:${shared.port}`, headers,
        pid: shared.tidegate.cpuPid,
      },
    ];
    const small = chatBody(false);
    for (const t of targets) await cannon(t, small, 50, 1);
    for (let round = 0; round < context.rounds; round++) {
      context.log(`gateway-spend round ${round + 1}/${context.rounds}`);
      for (const t of targets) {
        const cpuBefore = await cpuSecondsOf(t.pid);
        const r = await cannon(t, small, 50, durationS);
        const cpu = (await cpuSecondsOf(t.pid)) - cpuBefore;
        collector.add('chat300-rps', t.name, 'req/s', 'higher', r.rps);
        collector.add('chat300-cpu-us-per-req', t.name, 'µs', 'lower', (cpu * 1e6) / Math.max(1, r.rps * durationS));
        collector.add('chat300-p99', t.name, 'ms', 'lower', r.p99);
        if (r.errors > 0 || r.non2xx > 0) {
          notes.push(`round ${round + 1} ${t.name}: ${r.errors} errors, ${r.non2xx} non-2xx`);
        }
      }
    }
  } finally {
    for (const t of started) await t.stop();
    await upstream.process.stop();
    await redis.stop();
    await rm(dbDir, { recursive: true, force: true });
  }
  const metrics = collector.metrics();
  const m = (name: string, path: string): number => medianOf(metrics, name, path) ?? Number.NaN;
  const ratios: BenchRatio[] = [];
  const memoryRps = m('chat300-rps', 'spend-memory') / m('chat300-rps', 'plain');
  const redisRps = m('chat300-rps', 'spend-redis') / m('chat300-rps', 'plain');
  ratios.push({
    name: 'chat300 req/s: spend (memory) / plain', value: memoryRps, target: '>= 0.95', met: memoryRps >= 0.95,
  });
  ratios.push({
    name: 'chat300 req/s: spend (redis) / plain', value: redisRps, target: '>= 0.85', met: redisRps >= 0.85,
  });
  ratios.push({
    name: 'chat300 CPU per request: spend (memory) / plain',
    value: m('chat300-cpu-us-per-req', 'spend-memory') / m('chat300-cpu-us-per-req', 'plain'),
  });
  ratios.push({
    name: 'chat300 CPU per request: spend (redis) / plain',
    value: m('chat300-cpu-us-per-req', 'spend-redis') / m('chat300-cpu-us-per-req', 'plain'),
  });
  return { scenario: 'gateway-spend', metrics, ratios, notes };
}

export const scenario: BenchScenario = {
  name: 'gateway-spend',
  description: 'LLM gateway with and without prices, budgets and rate limits (memory- and Redis-backed): chat300',
  run,
};
