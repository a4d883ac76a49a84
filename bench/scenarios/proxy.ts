/**
 * The plain HTTP proxy bench: keep-alive GETs (absolute URI in the request line, as `http_proxy=` clients send
 * them) through tidegate's proxy service to a local origin, beside tinyproxy and squid from Debian's packages
 * (installed when missing and possible, skipped with a note otherwise), interleaved round by round in the same run:
 * requests per second and the proxy process's CPU per request.
 */
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSecondsOf } from '../lib/cpu.js';
import { MetricCollector, medianOf } from '../lib/metric.js';
import { freePort, waitForPort } from '../lib/ports.js';
import { ManagedProcess } from '../lib/process.js';
import { findOrInstall, SQUID, TINYPROXY } from '../lib/proxy-peers.js';
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
  description: `plain HTTP proxy: ${CONNECTIONS} keep-alive clients GET ${BODY_BYTES} B through tidegate, tinyproxy`
    + ', squid',
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
    const peers: { name: string; process: ManagedProcess; port: number }[] = [];
    try {
      for (const peer of [TINYPROXY, SQUID]) {
        const executable = await findOrInstall(peer, notes);
        if (executable !== null) peers.push({ name: peer.name, ...(await peer.start(executable, dir)) });
      }
      const status = (await (await fetch(`http://127.0.0.1:${tidegate.adminPort}/status`)).json()) as {
        services: { name: string; listen: string }[];
      };
      const proxyPort = Number(status.services.find((s) => s.name === 'px')!.listen.split(':').pop());
      const all = [{ name: 'tidegate', process: tidegate.process, port: proxyPort }, ...peers];
      // Warm-up (JIT, keep-alive pools), then interleaved rounds.
      for (const p of all) await load(p.port, p.process.pid, origin.port, 1);
      for (let round = 0; round < context.rounds; round++) {
        for (const p of all) {
          const [rps, cpu] = await load(p.port, p.process.pid, origin.port, seconds);
          metrics.add('reqPerSec', p.name, 'req/s', 'higher', rps);
          metrics.add('cpuPerRequest', p.name, 'CPU-µs/req', 'lower', cpu);
          context.log(`round ${round + 1}: ${p.name} ${Math.round(rps)} req/s, ${cpu.toFixed(1)} CPU-µs/req`);
        }
      }
    } finally {
      await tidegate.stop();
      for (const p of peers) await p.process.stop('SIGTERM', 5000);
      await origin.process.stop('SIGTERM', 5000);
      await rm(dir, { recursive: true, force: true });
    }
    const all = metrics.metrics();
    const ratios = [];
    const ours = medianOf(all, 'reqPerSec', 'tidegate');
    const cpuOurs = medianOf(all, 'cpuPerRequest', 'tidegate');
    let fastest: { name: string; rps: number } | null = null;
    for (const name of [TINYPROXY.name, SQUID.name]) {
      const theirs = medianOf(all, 'reqPerSec', name);
      const cpuTheirs = medianOf(all, 'cpuPerRequest', name);
      if (ours !== undefined && theirs !== undefined) {
        ratios.push({ name: `reqPerSec tidegate / ${name}`, value: ours / theirs });
      }
      if (cpuOurs !== undefined && cpuTheirs !== undefined) {
        ratios.push({ name: `cpuPerRequest tidegate / ${name}`, value: cpuOurs / cpuTheirs });
      }
      if (theirs !== undefined && (fastest === null || theirs > fastest.rps)) fastest = { name, rps: theirs };
    }
    if (ours !== undefined && fastest !== null) {
      const value = ours / fastest.rps;
      ratios.push({
        name: `reqPerSec tidegate / the faster peer (${fastest.name})`, value, target: '>= 1.0', met: value >= 1,
      });
    }
    return { scenario: 'proxy', metrics: all, ratios, notes };
  },
};
