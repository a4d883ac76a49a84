import { mkdtemp, writeFile, readFile, readdir, rm, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'node:http';
import { ManagedProcess } from './process.js';
import { freePort, sleep } from './ports.js';

/**
 * Starting tidegate as a child process for a bench. Which build runs is the "target": the perf gate points it at
 * a baseline worktree and at the candidate in turn, passes the candidate-only environment (slow switches), and the
 * profiler wraps the process with 0x / --cpu-prof / clinic / perf. Scenarios only call spawnTidegate().
 */

/** How tidegate is wrapped for profiling; `none` for measurements. */
export type TidegateWrap = 'none' | '0x' | 'cpu-prof' | 'clinic-doctor' | 'clinic-flame' | 'perf';

export interface TidegateTarget {
  /** The checkout whose dist/src/cli.js runs (default: this repository, or TIDEGATE_BENCH_ROOT). */
  readonly root: string;
  /** Extra environment for tidegate only (never the load generators or baselines). */
  readonly env: Readonly<Record<string, string>>;
  readonly wrap: TidegateWrap;
  /** Where profiles go when wrapped (a folder per tidegate label below it). */
  readonly profileDir: string;
  /** perf event for `wrap: 'perf'` (`cycles` where hardware counters work, else `cpu-clock`). */
  readonly perfEvent: string;
}

/** The repository this bench was built from: dist/bench/lib/tidegate.js → three levels up. */
export const benchRepoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

let target: TidegateTarget = {
  root: process.env.TIDEGATE_BENCH_ROOT ?? benchRepoRoot,
  env: parseEnvAssignments(process.env.TIDEGATE_BENCH_ENV ?? ''),
  wrap: 'none',
  profileDir: join(benchRepoRoot, 'bench', 'results', 'profiles'),
  perfEvent: 'cpu-clock',
};

export function setTidegateTarget(next: Partial<TidegateTarget>): void {
  target = { ...target, ...next };
}

export function tidegateTarget(): TidegateTarget {
  return target;
}

/** Parses `A=1,B=2` or repeated `A=1` items into an env object; rejects items without `=`. */
export function parseEnvAssignments(text: string | readonly string[]): Record<string, string> {
  const items = typeof text === 'string' ? text.split(',') : text;
  const env: Record<string, string> = {};
  for (const raw of items) {
    const item = raw.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new Error(`expected NAME=VALUE, got "${item}"`);
    env[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return env;
}

export function tidegateCliPath(root = target.root): string {
  return join(root, 'dist', 'src', 'cli.js');
}

/** Whether the target has a built tidegate CLI (the bench skips tidegate paths with a note when not). */
export function tidegateAvailable(): boolean {
  return existsSync(tidegateCliPath());
}

export interface SpawnTidegateOptions {
  /** Service entries exactly as in a tidegate config. */
  readonly services: readonly Record<string, unknown>[];
  /** Top-level config sections besides admin/store/log/services (users, pool, ...). */
  readonly config?: Readonly<Record<string, unknown>>;
  /** Environment for this process on top of the target's (e.g. TIDEGATE_RELAY=js). */
  readonly env?: Readonly<Record<string, string>>;
  /** A label for messages and profile folders. */
  readonly label?: string;
  /** How long to wait for every service to run. */
  readonly readyTimeoutMs?: number;
  /** CPUs for `taskset -c` (the process and every worker it forks); unpinned when absent or when profiled. */
  readonly cpus?: string;
  /** Another checkout's build instead of the target's (a scenario comparing two builds in one run). */
  readonly root?: string;
}

export interface TidegateStatusService {
  readonly name: string;
  readonly state: string;
}

export interface TidegateStatus {
  readonly relayEngine?: string;
  readonly services: readonly TidegateStatusService[];
  readonly raw: unknown;
}

export class TidegateProcess {
  readonly process: ManagedProcess;
  readonly adminPort: number;
  readonly configDir: string;
  readonly label: string;
  /** The pid whose CPU time is tidegate's (the node process itself, also when a profiler wraps it). */
  cpuPid: number;
  relayEngine: string | undefined;
  /** `perf record` attached to this process when wrap is `perf`. */
  perfRecorder: ManagedProcess | null = null;

  constructor(process: ManagedProcess, adminPort: number, configDir: string, label: string) {
    this.process = process;
    this.adminPort = adminPort;
    this.configDir = configDir;
    this.label = label;
    this.cpuPid = process.pid;
    this.relayEngine = undefined;
  }

  status(): Promise<TidegateStatus> {
    return fetchStatus(this.adminPort);
  }

  async stop(): Promise<void> {
    if (this.perfRecorder) {
      // perf writes perf.data when interrupted; stop it before the process it watches goes away.
      await this.perfRecorder.stop('SIGINT', 30_000);
      this.perfRecorder = null;
    }
    const wrapper = target.wrap === '0x' || target.wrap.startsWith('clinic');
    if (wrapper && this.cpuPid !== this.process.pid && !this.process.hasExited) {
      // 0x and clinic expect Ctrl+C to reach the whole process group: interrupt the node process they wrap, then
      // give them time to turn what it recorded into HTML.
      try {
        process.kill(this.cpuPid, 'SIGINT');
      } catch {
        // already gone
      }
      await Promise.race([this.process.waitForExit(), sleep(120_000)]);
    }
    const profiled = target.wrap !== 'none' && target.wrap !== 'perf';
    // Profilers write their output on a normal exit (SIGINT), not on SIGKILL.
    await this.process.stop(profiled ? 'SIGINT' : 'SIGTERM', profiled ? 60_000 : 5000);
    await rm(this.configDir, { recursive: true, force: true });
  }
}

/** Starts tidegate with the given services on loopback and waits until every service reports `running`. */
export async function spawnTidegate(options: SpawnTidegateOptions): Promise<TidegateProcess> {
  const root = options.root ?? target.root;
  const cli = tidegateCliPath(root);
  if (!existsSync(cli)) throw new Error(`tidegate is not built at ${cli} (run npm run build there)`);
  const label = options.label ?? 'tidegate';
  const adminPort = await freePort();
  const configDir = await mkdtemp(join(tmpdir(), 'tidegate-bench-'));
  const config = {
    admin: { listen: `127.0.0.1:${adminPort}` },
    store: { sqlite: 'off' },
    log: { level: 'warn' },
    ...options.config,
    services: options.services,
  };
  const configFile = join(configDir, 'tidegate.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const clinic = target.wrap === 'clinic-doctor' || target.wrap === 'clinic-flame';
  const env = { ...process.env, ...(clinic ? CLINIC_ENV : {}), ...target.env, ...options.env };
  let { command, args } = await wrappedCommand(cli, ['start', '--config', configFile], label);
  if (options.cpus !== undefined && target.wrap === 'none') {
    // taskset execs node in its own process: the pid stays tidegate's.
    args = ['-c', options.cpus, command, ...args];
    command = 'taskset';
  }
  const child = new ManagedProcess(label, command, args, { env, cwd: root });
  const tidegate = new TidegateProcess(child, adminPort, configDir, label);
  try {
    const status = await waitUntilRunning(tidegate, options.readyTimeoutMs ?? 20_000);
    tidegate.relayEngine = status.relayEngine;
    if (target.wrap !== 'none') tidegate.cpuPid = await findNodeDescendant(child.pid);
    if (target.wrap === 'perf') {
      tidegate.perfRecorder = startPerfRecord(tidegate.cpuPid, join(target.profileDir, label), label);
    }
  } catch (error) {
    await tidegate.stop();
    throw error;
  }
  return tidegate;
}

async function wrappedCommand(
  cli: string,
  cliArgs: readonly string[],
  label: string,
): Promise<{ command: string; args: string[] }> {
  const node = process.execPath;
  const dir = join(target.profileDir, label);
  if (target.wrap !== 'none') await mkdir(dir, { recursive: true });
  switch (target.wrap) {
    case 'none':
      return { command: node, args: [cli, ...cliArgs] };
    case 'cpu-prof':
      // One .cpuprofile per thread: the main thread and every worker thread.
      return { command: node, args: ['--cpu-prof', '--cpu-prof-dir', dir, cli, ...cliArgs] };
    case '0x':
      return {
        command: node,
        args: [join(benchRepoRoot, 'node_modules', '0x', 'cmd.js'), '--output-dir', dir, '--', node, cli, ...cliArgs],
      };
    case 'clinic-doctor':
    case 'clinic-flame':
      // The devDependency's own bin (not one on PATH); no browser, and CLINIC_ENV turns its network calls off.
      return {
        command: node,
        args: [clinicBin(), target.wrap.slice(7), '--no-open', '--dest', dir, '--', node, cli, ...cliArgs],
      };
    case 'perf':
      // JIT frames get names through the perf map; native addon frames come from its symbols.
      return { command: node, args: ['--perf-basic-prof-only-functions', cli, ...cliArgs] };
  }
}

/** clinic's command line, from the bench's own node_modules (a devDependency). */
export function clinicBin(): string {
  return join(benchRepoRoot, 'node_modules', 'clinic', 'bin.js');
}

/**
 * clinic asks Google Analytics (insight) and the npm registry (update-notifier) unless told not to: both off, so a
 * profile run makes no network call.
 */
export const CLINIC_ENV: Readonly<Record<string, string>> = { NO_INSIGHT: '1', NO_UPDATE_NOTIFIER: '1' };

async function waitUntilRunning(tidegate: TidegateProcess, timeoutMs: number): Promise<TidegateStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    tidegate.process.assertAlive();
    try {
      const status = await fetchStatus(tidegate.adminPort);
      const notRunning = status.services.filter(isNotRunning);
      if (status.services.length > 0 && notRunning.length === 0) return status;
      last = `services not running yet: ${notRunning.map(describeService).join(', ') || '(none listed)'}`;
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${tidegate.label} not ready within ${timeoutMs} ms (${last}); output: ${tidegate.process.tail()}`,
      );
    }
    await sleep(100);
  }
}

function isNotRunning(service: TidegateStatusService): boolean {
  return service.state !== 'running';
}

function describeService(service: TidegateStatusService): string {
  return `${service.name}=${service.state}`;
}

/** GET /status from the admin API; accepts services as an array or as an object keyed by name. */
export function fetchStatus(adminPort: number): Promise<TidegateStatus> {
  return new Promise((resolvePromise, reject) => {
    const options = { host: '127.0.0.1', port: adminPort, path: '/status', method: 'GET', timeout: 2000 };
    const req = request(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        if (res.statusCode !== 200) {
          return reject(new Error(`GET /status answered ${res.statusCode}: ${body.slice(0, 200)}`));
        }
        try {
          resolvePromise(parseStatus(JSON.parse(body)));
        } catch (error) {
          reject(error as Error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('GET /status timed out')));
    req.on('error', reject);
    req.end();
  });
}

export function parseStatus(raw: unknown): TidegateStatus {
  if (typeof raw !== 'object' || raw === null) throw new Error('GET /status: not a JSON object');
  const record = raw as Record<string, unknown>;
  const list = record.services;
  const services: TidegateStatusService[] = [];
  const entries: [string, unknown][] = Array.isArray(list)
    ? list.map((entry, index) => [String(index), entry])
    : typeof list === 'object' && list !== null
      ? Object.entries(list)
      : [];
  for (const [key, value] of entries) {
    if (typeof value !== 'object' || value === null) continue;
    const service = value as Record<string, unknown>;
    services.push({
      name: typeof service.name === 'string' ? service.name : key, state: String(service.state ?? 'unknown'),
    });
  }
  const relayEngine = typeof record.relayEngine === 'string' ? record.relayEngine : undefined;
  return { relayEngine, services, raw };
}

function startPerfRecord(pid: number, dir: string, label: string): ManagedProcess {
  return new ManagedProcess(`perf-${label}`, 'perf', [
    'record', '-e', target.perfEvent, '-g', '-F', '999', '-p', String(pid), '-o', join(dir, 'perf.data'),
  ]);
}

/** The deepest `node` process under a wrapper (0x, clinic), so CPU time is tidegate's own. */
async function findNodeDescendant(pid: number): Promise<number> {
  let current = pid;
  for (let depth = 0; depth < 4; depth++) {
    const children = await childPids(current);
    if (children.length === 0) break;
    current = children[0] as number;
  }
  return current;
}

async function childPids(pid: number): Promise<number[]> {
  const pids: number[] = [];
  try {
    for (const task of await readdir(`/proc/${pid}/task`)) {
      const text = await readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '');
      for (const item of text.trim().split(/\s+/)) if (item !== '') pids.push(Number(item));
    }
  } catch {
    // The process is gone or /proc lacks children lists: measure the wrapper instead.
  }
  return pids;
}
