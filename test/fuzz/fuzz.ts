import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkServices } from './checks.js';
import { split } from './mutate.js';
import { Rng } from './rng.js';
import { send } from './send.js';
import type { FuzzEnv, FuzzInput, FuzzTarget } from './target.js';
import { adminTarget } from './targets/admin.js';
import { gatewayTarget } from './targets/gateway.js';
import { httpConnectTarget } from './targets/http-connect.js';
import { httpPlainTarget } from './targets/http-plain.js';
import { socks5Target } from './targets/socks5.js';
import { TidegateProcess, type Ports } from './tidegate-process.js';
import { MockUpstream } from '../fixtures/llm-upstream.js';
import { echoServer, refusingProxy } from '../fixtures/tcp.js';

export const TARGETS: readonly FuzzTarget[] = [
  socks5Target, httpConnectTarget, httpPlainTarget, adminTarget, gatewayTarget,
];

export interface FuzzOptions {
  readonly seconds: number;
  readonly seed: number;
  /** Stop after this many inputs even if time is left. */
  readonly maxInputs?: number;
  readonly batchSize?: number;
  readonly concurrency?: number;
  /** Progress lines (the runner prints them). */
  readonly progress?: (line: string) => void;
}

export type FindingKind = 'crash' | 'escaped-exception' | 'hang' | 'service-broken' | 'fd-leak' | 'rss-leak';

export interface Finding {
  readonly kind: FindingKind;
  readonly batch: number;
  readonly detail: string;
  /** The input that caused it, when known (replayed alone to find it). */
  readonly input: string | null;
}

export interface TargetCounts {
  sent: number;
  answered: number;
  closedSilently: number;
  hung: number;
}

export interface FuzzReport {
  readonly seed: number;
  readonly seconds: number;
  readonly inputs: number;
  readonly batches: number;
  readonly perTarget: Record<string, TargetCounts>;
  readonly findings: Finding[];
  readonly fds: { readonly start: number; readonly end: number; readonly max: number };
  readonly rssMiB: { readonly start: number; readonly end: number; readonly max: number };
}

const CLIENT_KEY = 'sk-fuzz-client-key';
const MAX_BODY_BYTES = 256 * 1024;
/** A server that neither answers nor closes this long after the client's FIN has hung (every timeout is below). */
const HANG_MS = 15_000;
/** After a batch, fds and RSS must come back within these of the start (polled for SETTLE_MS). */
const FD_SLACK = 24;
const RSS_SLACK = 200 * 1024 * 1024;
const SETTLE_MS = 15_000;
const MAX_FINDINGS = 5;

interface Numbered {
  readonly index: number;
  readonly input: FuzzInput;
}

/**
 * Starts a real tidegate (`tidegate start` in a child process) with a forward, a proxy, a gateway on mock LLM
 * upstreams and the admin API, all on loopback, and throws batches of generated inputs at the SOCKS5, CONNECT,
 * plain HTTP proxy, admin and gateway parsers. After each batch: the process is alive, no guard caught an escaped
 * exception, a normal request on each service works, and fds and RSS are back within bounds of the start.
 */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const progress = options.progress ?? (() => undefined);
  const batchSize = options.batchSize ?? 200;
  const concurrency = options.concurrency ?? 16;
  const maxInputs = options.maxInputs ?? Number.MAX_SAFE_INTEGER;
  const rng = new Rng(options.seed);
  const fixtures = await startFixtures();
  const dir = mkdtempSync(join(tmpdir(), 'tidegate-fuzz-'));
  const config = fuzzConfig(fixtures);
  let tg = await TidegateProcess.start(dir, config);
  const env: FuzzEnv = {
    echoPort: fixtures.echo.port, adminPort: tg.ports.admin, clientKey: CLIENT_KEY, maxBodyBytes: MAX_BODY_BYTES,
  };
  const perTarget: Record<string, TargetCounts> = {};
  for (const t of TARGETS) perTarget[t.name] = { sent: 0, answered: 0, closedSilently: 0, hung: 0 };
  const findings: Finding[] = [];
  const began = Date.now();
  let inputs = 0;
  let batches = 0;
  try {
    const warm = await checkServices(tg.ports, CLIENT_KEY, env.echoPort);
    const broken = Object.entries(warm).filter(([, v]) => v !== null);
    if (broken.length > 0) throw new Error(`services do not work before fuzzing: ${JSON.stringify(broken)}`);
    await new Promise((r) => setTimeout(r, 500));
    const startFds = tg.fds();
    const startRss = tg.rss();
    let maxFds = startFds;
    let maxRss = startRss;
    progress(`tidegate pid ${tg.child.pid}: ${JSON.stringify(tg.ports)}; `
      + `start fds ${startFds}, RSS ${mib(startRss)} MiB; seed ${options.seed}`);
    const deadline = began + options.seconds * 1000;
    while (Date.now() < deadline && inputs < maxInputs && findings.length < MAX_FINDINGS) {
      batches++;
      const batch: Numbered[] = [];
      const n = Math.min(batchSize, maxInputs - inputs);
      for (let i = 0; i < n; i++) batch.push({ index: inputs++, input: generate(rng, env) });
      const escapedBefore = tg.escaped.length;
      await runPool(batch, concurrency, async ({ index, input }) => {
        const counts = perTarget[input.target]!;
        counts.sent++;
        const outcome = await send(portOf(tg.ports, input), input, HANG_MS);
        if (outcome.answered) counts.answered++;
        else if (outcome.closed) counts.closedSilently++;
        if (outcome.hung) {
          counts.hung++;
          findings.push({
            kind: 'hang', batch: batches, detail: `no answer and no close ${HANG_MS / 1000}s after the client's FIN`,
            input: describe(index, input, options.seed),
          });
        }
      });
      maxFds = Math.max(maxFds, safe(() => tg.fds()));
      maxRss = Math.max(maxRss, safe(() => tg.rss()));
      await new Promise((r) => setTimeout(r, 100));
      if (!tg.alive) {
        const detail = `tidegate exited ${JSON.stringify(tg.exit)}; stderr: ${tg.stderr.slice(-1_500)}`;
        progress(`batch ${batches}: CRASH; replaying its ${batch.length} inputs one by one`);
        const culprit = await findCrashCulprit(dir, config, batch, options.seed);
        findings.push({ kind: 'crash', batch: batches, detail, input: culprit });
        break;
      }
      if (tg.escaped.length > escapedBefore) {
        const lines = tg.escaped.slice(escapedBefore);
        progress(`batch ${batches}: ${lines.length} escaped exception(s); replaying the batch to find the input`);
        const culprit = await findEscapeCulprit(tg, batch, env, options.seed);
        findings.push({
          kind: 'escaped-exception', batch: batches, detail: lines.slice(0, 3).join('\n'), input: culprit,
        });
      }
      const checks = await checkServices(tg.ports, CLIENT_KEY, env.echoPort);
      for (const [service, problem] of Object.entries(checks)) {
        if (problem !== null) {
          findings.push({ kind: 'service-broken', batch: batches, detail: `${service}: ${problem}`, input: null });
        }
      }
      const settled = await settle(tg, startFds + FD_SLACK, startRss + RSS_SLACK);
      if (settled.fds > startFds + FD_SLACK) {
        findings.push({
          kind: 'fd-leak', batch: batches,
          detail: `${settled.fds} fds ${SETTLE_MS / 1000}s after the batch (start ${startFds}, bound +${FD_SLACK})`,
          input: null,
        });
      }
      if (settled.rss > startRss + RSS_SLACK) {
        findings.push({
          kind: 'rss-leak', batch: batches,
          detail: `RSS ${mib(settled.rss)} MiB after the batch `
            + `(start ${mib(startRss)} MiB, bound +${mib(RSS_SLACK)} MiB)`,
          input: null,
        });
      }
      progress(`batch ${batches}: ${inputs} inputs, fds ${settled.fds}, RSS ${mib(settled.rss)} MiB, `
        + `findings ${findings.length}`);
    }
    const endFds = tg.alive ? safe(() => tg.fds()) : 0;
    const endRss = tg.alive ? safe(() => tg.rss()) : 0;
    return {
      seed: options.seed,
      seconds: Math.round((Date.now() - began) / 100) / 10,
      inputs,
      batches,
      perTarget,
      findings,
      fds: { start: startFds, end: endFds, max: maxFds },
      rssMiB: { start: mib(startRss), end: mib(endRss), max: mib(maxRss) },
    };
  } finally {
    await tg.stop();
    await fixtures.close();
    rmSync(dir, { recursive: true, force: true });
  }

  async function findCrashCulprit(
    dir: string, config: Record<string, unknown>, batch: readonly Numbered[], seed: number,
  ): Promise<string | null> {
    const until = Date.now() + 120_000;
    tg = await TidegateProcess.start(dir, config);
    for (const { index, input } of batch) {
      if (Date.now() > until) break;
      await send(portOf(tg.ports, input), input, 2_000);
      await new Promise((r) => setTimeout(r, 50));
      if (!tg.alive) return describe(index, input, seed);
    }
    return null;
  }
}

/** Replays the batch's inputs one at a time on the live process and names the first one a guard logs. */
async function findEscapeCulprit(
  tg: TidegateProcess, batch: readonly Numbered[], _env: FuzzEnv, seed: number,
): Promise<string | null> {
  const until = Date.now() + 60_000;
  for (const { index, input } of batch) {
    if (Date.now() > until) break;
    const before = tg.escaped.length;
    await send(portOf(tg.ports, input), input, 2_000);
    await new Promise((r) => setTimeout(r, 50));
    if (tg.escaped.length > before || !tg.alive) return describe(index, input, seed);
  }
  return null;
}

function generate(rng: Rng, env: FuzzEnv): FuzzInput {
  const target = rng.pick(TARGETS);
  const bytes = target.generate(rng, env);
  return { target: target.name, service: target.service, chunks: split(rng, bytes), holdOpen: rng.chance(0.1) };
}

function portOf(ports: Ports, input: FuzzInput): number {
  return input.service === 'proxy' ? ports.proxy : input.service === 'admin' ? ports.admin : ports.gateway;
}

/** A finding's input: where it came from, a readable preview, and the whole of it in a file. */
function describe(index: number, input: FuzzInput, seed: number): string {
  const bytes = Buffer.concat(input.chunks);
  const file = join(tmpdir(), `tidegate-fuzz-${seed}-${index}.bin`);
  writeFileSync(file, bytes);
  const preview = JSON.stringify(bytes.subarray(0, 300).toString('latin1'));
  return `input #${index} (seed ${seed}) to ${input.target}: ${bytes.length} bytes in ${input.chunks.length} write(s)`
    + `${input.holdOpen ? ', held open' : ''}; saved as ${file}; starts ${preview}`;
}

async function settle(tg: TidegateProcess, fdBound: number, rssBound: number): Promise<{ fds: number; rss: number }> {
  const until = Date.now() + SETTLE_MS;
  for (;;) {
    const fds = safe(() => tg.fds());
    const rss = safe(() => tg.rss());
    if ((fds <= fdBound && rss <= rssBound) || Date.now() > until || !tg.alive) return { fds, rss };
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function runPool<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) await work(items[next++]!);
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

function safe(read: () => number): number {
  try {
    return read();
  } catch {
    return 0;
  }
}

function mib(bytes: number): number {
  return Math.round((bytes / (1024 * 1024)) * 10) / 10;
}

interface Fixtures {
  readonly echo: { readonly port: number };
  readonly upstreamProxyPort: number;
  readonly openai: MockUpstream;
  readonly anthropic: MockUpstream;
  close(): Promise<void>;
}

/** The loopback servers tidegate talks to: an echo target, a refusing upstream proxy, two mock LLM upstreams. */
async function startFixtures(): Promise<Fixtures> {
  const echo = await echoServer();
  // Every CONNECT the proxy forwards upstream is refused: the fuzz reaches parsing and error paths, never a relay out.
  const upstreamProxy = await refusingProxy();
  const openai = await MockUpstream.start({ dialect: 'openai', name: 'fuzz-oa' });
  const anthropic = await MockUpstream.start({ dialect: 'anthropic', name: 'fuzz-an' });
  return {
    echo: { port: echo.port },
    upstreamProxyPort: upstreamProxy.port,
    openai,
    anthropic,
    async close() {
      await Promise.all([echo.close(), upstreamProxy.close(), openai.close(), anthropic.close()]);
    },
  };
}

function fuzzConfig(f: Fixtures): Record<string, unknown> {
  return {
    admin: { listen: '127.0.0.1:0' },
    log: { level: 'info' },
    store: { sqlite: 'off' },
    users: [{ id: 'fuzz', keys: [CLIENT_KEY] }],
    services: [
      { name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [`127.0.0.1:${f.echo.port}`] },
      { name: 'px', type: 'proxy', listen: '127.0.0.1:0', routing: 'upstream', upstream: `http://127.0.0.1:${f.upstreamProxyPort}`, handshakeTimeout: '5s' },
      {
        name: 'llm',
        type: 'gateway',
        listen: '127.0.0.1:0',
        maxBodyBytes: MAX_BODY_BYTES,
        requestTimeout: '10s',
        channels: [
          { name: 'oa', kind: 'openai', baseUrl: f.openai.baseUrl, keys: ['sk-upstream-oa'], models: ['gpt-*'] },
          {
            name: 'an', kind: 'anthropic', baseUrl: f.anthropic.baseUrl, keys: ['sk-upstream-an'], models: ['claude-*'],
          },
        ],
      },
    ],
  };
}
