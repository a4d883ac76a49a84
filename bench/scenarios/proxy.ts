/**
 * The plain HTTP proxy bench: keep-alive GETs (absolute URI in the request line, as `http_proxy=` clients send
 * them) through tidegate's proxy service to a local origin, beside tinyproxy from Debian's package when it is
 * installed (skipped with a note otherwise), interleaved round by round in the same run: requests per second and
 * the proxy process's CPU per request.
 */
import { createRequire } from 'node:module';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSecondsOf } from '../lib/cpu.js';
import { MetricCollector, medianOf } from '../lib/metric.js';
import { freePort, waitForPort } from '../lib/ports.js';
import { hasCommand, ManagedProcess } from '../lib/process.js';
import { spawnTidegate } from '../lib/tidegate.js';
import type { BenchContext, BenchReport, BenchScenario } from '../types.js';

const require = createRequire(import.meta.url);
const CONNECTIONS = 50;
const BODY_BYTES = 1024;

interface AutocannonResult {
  requests: { total: number };
  duration: number;
  errors: number;
  non2xx: number;
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;

/** A node:http origin in its own process answering every request with BODY_BYTES bytes, keep-alive. */
async function startOrigin(): Promise<{ process: ManagedProcess; port: number }> {
  const port = await freePort();
  const body = `Buffer.alloc(${BODY_BYTES}, 97)`;
  const script = `const b=${body};require('http').createServer((q,s)=>{s.writeHead(200,{'content-length':b.length});`
    + `s.end(b)}).listen(${port},'127.0.0.1')`;
  const child = new ManagedProcess('origin', process.execPath, ['-e', script]);
  await waitForPort(port, 10_000, () => child.assertAlive());
  return { process: child, port };
}

async function startTinyproxy(dir: string): Promise<{ process: ManagedProcess; port: number }> {
  const port = await freePort();
  const conf = join(dir, 'tinyproxy.conf');
  await writeFile(conf, [
    `Port ${port}`, 'Listen 127.0.0.1', 'Timeout 600', 'MaxClients 1000', 'Allow 127.0.0.1', 'LogLevel Critical',
    'DisableViaHeader Yes',
  ].join('\n') + '\n');
  const child = new ManagedProcess('tinyproxy', 'tinyproxy', ['-d', '-c', conf]);
  await waitForPort(port, 10_000, () => child.assertAlive());
  return { process: child, port };
}

/** Keep-alive GETs through the proxy at `proxyPort` for `seconds`; requests per second and CPU per request. */
async function load(proxyPort: number, pid: number, originPort: number, seconds: number): Promise<[number, number]> {
  const autocannon = require('autocannon') as Autocannon;
  const cpu0 = await cpuSecondsOf(pid);
  const result = await autocannon({
    url: `http://127.0.0.1:${proxyPort}`,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [{ method: 'GET', path: `http://127.0.0.1:${originPort}/`, headers: { host: `127.0.0.1:${originPort}` } }],
  });
  const cpu = (await cpuSecondsOf(pid)) - cpu0;
  if (result.errors > 0 || result.non2xx > 0) {
    throw new Error(`proxy on ${proxyPort}: ${result.errors} errors, ${result.non2xx} non-2xx answers`);
  }
  const total = result.requests.total;
  return [total / Math.max(result.duration, 1e-9), (cpu * 1e6) / Math.max(total, 1)];
}

export const scenario: BenchScenario = {
  name: 'proxy',
  description: `plain HTTP proxy: ${CONNECTIONS} keep-alive clients GET ${BODY_BYTES} B through tidegate vs tinyproxy`,
  async run(context: BenchContext): Promise<BenchReport> {
    const notes: string[] = [];
    const metrics = new MetricCollector();
    const seconds = context.quick ? 2 : 5;
    const dir = await mkdtemp(join(tmpdir(), 'tidegate-bench-proxy-'));
    const origin = await startOrigin();
    const tidegate = await spawnTidegate({
      label: 'tidegate-proxy',
      services: [{
        name: 'px', type: 'proxy', listen: `127.0.0.1:${await freePort()}`, allowDestinations: ['127.0.0.0/8'],
      }],
    });
    let tiny: { process: ManagedProcess; port: number } | null = null;
    try {
      if (await hasCommand('tinyproxy', ['-v'])) tiny = await startTinyproxy(dir);
      else notes.push('tinyproxy is not installed (apt-get install -y tinyproxy): only tidegate was measured');
      const status = (await (await fetch(`http://127.0.0.1:${tidegate.adminPort}/status`)).json()) as {
        services: { name: string; listen: string }[];
      };
      const proxyPort = Number(status.services.find((s) => s.name === 'px')!.listen.split(':').pop());
      // Warm-up (JIT, keep-alive pools), then interleaved rounds.
      await load(proxyPort, tidegate.process.pid, origin.port, 1);
      if (tiny !== null) await load(tiny.port, tiny.process.pid, origin.port, 1);
      for (let round = 0; round < context.rounds; round++) {
        const [rps, cpu] = await load(proxyPort, tidegate.process.pid, origin.port, seconds);
        metrics.add('reqPerSec', 'tidegate', 'req/s', 'higher', rps);
        metrics.add('cpuPerRequest', 'tidegate', 'CPU-µs/req', 'lower', cpu);
        context.log(`round ${round + 1}: tidegate ${Math.round(rps)} req/s, ${cpu.toFixed(1)} CPU-µs/req`);
        if (tiny !== null) {
          const [trps, tcpu] = await load(tiny.port, tiny.process.pid, origin.port, seconds);
          metrics.add('reqPerSec', 'tinyproxy', 'req/s', 'higher', trps);
          metrics.add('cpuPerRequest', 'tinyproxy', 'CPU-µs/req', 'lower', tcpu);
          context.log(`round ${round + 1}: tinyproxy ${Math.round(trps)} req/s, ${tcpu.toFixed(1)} CPU-µs/req`);
        }
      }
    } finally {
      await tidegate.stop();
      if (tiny !== null) await tiny.process.stop('SIGTERM', 5000);
      await origin.process.stop('SIGTERM', 5000);
      await rm(dir, { recursive: true, force: true });
    }
    const all = metrics.metrics();
    const ratios = [];
    const ours = medianOf(all, 'reqPerSec', 'tidegate');
    const theirs = medianOf(all, 'reqPerSec', 'tinyproxy');
    if (ours !== undefined && theirs !== undefined) {
      const value = ours / theirs;
      ratios.push({ name: 'reqPerSec tidegate / tinyproxy', value, target: '>= 1.0', met: value >= 1 });
    }
    const cpuOurs = medianOf(all, 'cpuPerRequest', 'tidegate');
    const cpuTheirs = medianOf(all, 'cpuPerRequest', 'tinyproxy');
    if (cpuOurs !== undefined && cpuTheirs !== undefined) {
      ratios.push({ name: 'cpuPerRequest tidegate / tinyproxy', value: cpuOurs / cpuTheirs });
    }
    notes.push('squid is not part of this scenario yet');
    return { scenario: 'proxy', metrics: all, ratios, notes };
  },
};
