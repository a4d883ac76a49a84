import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { ManagedProcess, hasCommand, runCommand } from './process.js';
import { freePort, waitForPort } from './ports.js';

const baselinesDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'baselines');
/** C sources are not compiled by tsc: they are read from the repository (dist/bench/lib → ../../../bench). */
const cBaselinesDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bench', 'baselines');

/** A relay or proxy started for a bench: one listen port per target, and the pid whose CPU is counted. */
export interface RunningPath {
  /** listen port for each target port given at start, in the same order. */
  readonly ports: readonly number[];
  readonly cpuPid: number;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

async function waitForAll(child: ManagedProcess, ports: readonly number[], label: string): Promise<void> {
  try {
    for (const port of ports) await waitForPort(port, 10_000, () => child.assertAlive());
  } catch (error) {
    await child.stop();
    throw new Error(`${label} did not start: ${(error as Error).message}`, { cause: error });
  }
}

async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) ports.push(await freePort()); // freePort never hands a port out twice
  return ports;
}

/** The plain `socket.pipe()` relay (bench/baselines/pipe-relay.ts): one listener per target port. */
export async function startPipeRelay(targetPorts: readonly number[]): Promise<RunningPath> {
  const ports = await freePorts(targetPorts.length);
  const args = [join(baselinesDir, 'pipe-relay.js')];
  ports.forEach((port, i) => args.push('--forward', `127.0.0.1:${port}=127.0.0.1:${targetPorts[i]}`));
  return startManaged('baseline-pipe', process.execPath, args, ports, null);
}

/**
 * Starts `command` as `name` and waits until it listens on every port; stopping it also removes `tempDir` (its
 * built binary or config), when it has one.
 */
async function startManaged(
  name: string, command: string, args: readonly string[], ports: number[], tempDir: string | null,
): Promise<RunningPath> {
  const child = new ManagedProcess(name, command, args);
  await waitForAll(child, ports, name);
  return {
    ports,
    cpuPid: child.pid,
    process: child,
    async stop() {
      await child.stop();
      if (tempDir !== null) await rm(tempDir, { recursive: true, force: true });
    },
  };
}

export function ccInstalled(): Promise<boolean> {
  return hasCommand('cc', ['--version']);
}

/**
 * The minimal C splice relay (bench/baselines/splice-relay.c), compiled with the machine's cc into a temp dir at
 * bench time (never a committed binary): the floor a splice relay reaches here, measured rather than assumed.
 */
export async function startSpliceRelay(targetPorts: readonly number[]): Promise<RunningPath> {
  const dir = await mkdtemp(join(tmpdir(), 'tidegate-splice-relay-'));
  const binary = join(dir, 'splice-relay');
  const built = await runCommand('cc', ['-O2', '-o', binary, join(cBaselinesDir, 'splice-relay.c')]);
  if (built.code !== 0) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`cc failed on splice-relay.c: ${built.stderr.trim().slice(0, 400)}`);
  }
  const ports = await freePorts(targetPorts.length);
  return startManaged('baseline-splice-c', binary, ports.map((port, i) => `${port}=${targetPorts[i]}`), ports, dir);
}

/** The naive Node LLM proxy (bench/baselines/naive-proxy.ts) in front of an upstream base URL. */
export async function startNaiveProxy(upstream: string): Promise<RunningPath> {
  const [port] = await freePorts(1);
  return startManaged('baseline-naive', process.execPath, [
    join(baselinesDir, 'naive-proxy.js'), '--listen', `127.0.0.1:${port}`, '--upstream', upstream,
  ], [port as number], null);
}

export function haproxyInstalled(): Promise<boolean> {
  return hasCommand('haproxy', ['-v']);
}

/** The HAProxy configuration the relay bench uses: DESIGN.md's tuned setup (forced splice, 1 MiB pipes). */
export function haproxyConfig(
  listenPorts: readonly number[], targetPorts: readonly number[], options: { threads?: number } = {},
): string {
  const lines = [
    'global',
    ...(options.threads === undefined ? [] : [`  nbthread ${options.threads}`]),
    '  tune.pipesize 1048576',
    '  maxconn 4000',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  option splice-request',
    '  option splice-response',
  ];
  listenPorts.forEach((port, i) => {
    lines.push(`listen relay${i}`, `  bind 127.0.0.1:${port}`, `  server target${i} 127.0.0.1:${targetPorts[i]}`);
  });
  return lines.join('\n') + '\n';
}

/** HAProxy in the foreground (-db), so stopping the child stops it. */
export async function startHaproxy(
  targetPorts: readonly number[], options: { threads?: number; label?: string } = {},
): Promise<RunningPath> {
  const ports = await freePorts(targetPorts.length);
  const dir = await mkdtemp(join(tmpdir(), 'tidegate-haproxy-'));
  const configFile = join(dir, 'haproxy.cfg');
  const threads = options.threads === undefined ? {} : { threads: options.threads };
  await writeFile(configFile, haproxyConfig(ports, targetPorts, threads));
  return startManaged(options.label ?? 'haproxy', 'haproxy', ['-db', '-f', configFile], ports, dir);
}
