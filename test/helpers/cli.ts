import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The one way tests run the CLI: `node dist/src/cli.js …` in a child process. */
export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export interface CliOptions {
  /** Runs the CLI under `ulimit -n` (through bash). */
  readonly fdLimit?: number;
  /** Keep only this many characters of output (long-running processes); all of it by default. */
  readonly keepOutput?: number;
  /** Called with every complete stdout line, from the first. */
  readonly onLine?: (line: string) => void;
}

/** A CLI process; `output()` is everything it printed so far (stdout and stderr, interleaved). */
export class CliProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  /** Set once the process has exited. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  /** Listen addresses from the JSON "listening" log lines: service name → `host:port`, and `admin`. */
  readonly listening = new Map<string, string>();
  private out = '';
  private outStdout = '';
  private outStderr = '';
  private partial = '';
  private readonly keep: number;
  private readonly lineListeners: ((line: string) => void)[] = [];
  private readonly waiters: { test: () => boolean; resolve: () => void }[] = [];

  constructor(args: readonly string[], env: Record<string, string> = {}, options: CliOptions = {}) {
    const fullEnv = { ...process.env, ...env };
    const command = [process.execPath, CLI, ...args];
    this.child = options.fdLimit === undefined
      ? spawn(command[0]!, command.slice(1), { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('bash', ['-c', `ulimit -n ${options.fdLimit} && exec ${command.map(quote).join(' ')}`], {
          env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'],
        });
    this.keep = options.keepOutput ?? Infinity;
    if (options.onLine) this.lineListeners.push(options.onLine);
    this.child.stdout!.on('data', (c: Buffer) => this.onOutput(c, true));
    this.child.stderr!.on('data', (c: Buffer) => this.onOutput(c, false));
    this.exited = new Promise((resolve) => this.child.on('close', (code, signal) => {
      this.exit = { code, signal };
      resolve(code);
      this.notify();
    }));
  }

  get alive(): boolean {
    return this.exit === null;
  }

  output(): string {
    return this.out;
  }

  stdout(): string {
    return this.outStdout;
  }

  stderr(): string {
    return this.outStderr;
  }

  /** Calls `listener` with every complete stdout line from now on. */
  onLine(listener: (line: string) => void): void {
    this.lineListeners.push(listener);
  }

  /** Resolves when the output contains `text`; rejects at `timeoutMs` or when the process exits first. */
  waitFor(text: string, timeoutMs = 10_000): Promise<void> {
    return this.until(() => this.out.includes(text), `"${text}"`, timeoutMs);
  }

  /** Resolves once every named service (and `admin`) has logged its listen address. */
  waitForListening(names: readonly string[], timeoutMs = 30_000): Promise<void> {
    return this.until(() => names.every((n) => this.listening.has(n)), `${names.join(', ')} listening`, timeoutMs);
  }

  /** The listen address (`host:port`) of a service (or `admin`) from its "listening" log line. */
  address(name: string): string {
    const address = this.listening.get(name);
    if (address === undefined) throw new Error(`${name} has not logged its listen address`);
    return address;
  }

  /** The bound port of a service (or `admin`). */
  port(name: string): number {
    const address = this.address(name);
    return Number(address.slice(address.lastIndexOf(':') + 1));
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.exit !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  private until(test: () => boolean, what: string, timeoutMs: number): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timeout = (): void => reject(new Error(`timed out waiting for ${what}; output:\n${this.out}`));
      const timer = setTimeout(timeout, timeoutMs);
      this.waiters.push({
        test: () => test() || this.exit !== null,
        resolve: () => {
          clearTimeout(timer);
          if (test()) resolve();
          else reject(new Error(`exited (${JSON.stringify(this.exit)}) before ${what}; output:\n${this.out}`));
        },
      });
    });
  }

  private notify(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (w.test()) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  private onOutput(chunk: Buffer, stdout: boolean): void {
    const text = chunk.toString();
    this.out = tail(this.out + text, this.keep);
    if (stdout) this.outStdout = tail(this.outStdout + text, this.keep);
    else this.outStderr = tail(this.outStderr + text, this.keep);
    if (stdout) {
      const lines = (this.partial + text).split('\n');
      this.partial = lines.pop()!;
      for (const line of lines) this.onStdoutLine(line);
    }
    this.notify();
  }

  private onStdoutLine(line: string): void {
    for (const listener of this.lineListeners) listener(line);
    if (!line.includes('listening')) return;
    try {
      const entry = JSON.parse(line) as { msg?: string; service?: string; listen?: string };
      if (entry.msg === 'service listening' && entry.service && entry.listen) {
        this.listening.set(entry.service, entry.listen);
      } else if (entry.msg === 'admin API listening' && entry.listen) this.listening.set('admin', entry.listen);
    } catch {
      /* not a JSON log line */
    }
  }
}

function tail(text: string, keep: number): string {
  return text.length > keep ? text.slice(-keep) : text;
}

function quote(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Starts the CLI and leaves it running. */
export function startCli(
  args: readonly string[], env: Record<string, string> = {}, options: CliOptions = {},
): CliProcess {
  return new CliProcess(args, env, options);
}

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI to completion. */
export async function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  const run = new CliProcess(args, env);
  const code = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/**
 * `tidegate start` on `config` (written as JSON to `dir/file`); resolves once the named services (and `admin`,
 * when named) have logged their listen addresses.
 */
export async function startTidegateProcess(
  dir: string, config: Record<string, unknown>, ready: readonly string[],
  options: { env?: Record<string, string>; file?: string } & CliOptions = {},
): Promise<CliProcess> {
  const file = join(dir, options.file ?? 'tidegate.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return startConfigFile(file, ready, options);
}

/** `tidegate start --config file`; resolves once the named services (and `admin`) are listening. */
export async function startConfigFile(
  file: string, ready: readonly string[], options: { env?: Record<string, string> } & CliOptions = {},
): Promise<CliProcess> {
  const tg = startCli(['start', '--config', file], options.env ?? {}, options);
  try {
    await tg.waitForListening(ready);
  } catch (err) {
    tg.child.kill('SIGKILL');
    throw err;
  }
  return tg;
}
