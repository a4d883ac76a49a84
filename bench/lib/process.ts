import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** A child process the bench started and must stop: output kept (bounded) for error messages. */
export class ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  private output = '';
  private exited = false;
  private exitCode: number | null = null;
  private readonly exitPromise: Promise<void>;

  constructor(name: string, command: string, args: readonly string[], options: SpawnOptions = {}) {
    this.name = name;
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    const keep = this.keepOutput.bind(this);
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exitPromise = new Promise((resolve) => {
      this.child.once('exit', (code) => {
        this.exited = true;
        this.exitCode = code;
        resolve();
      });
      this.child.once('error', (error) => {
        this.output += `\n[spawn error] ${error.message}`;
        this.exited = true;
        resolve();
      });
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} did not start: ${this.tail()}`);
    return this.child.pid;
  }

  get hasExited(): boolean {
    return this.exited;
  }

  /** The last lines of its stdout + stderr (for "why did it die" messages). */
  tail(chars = 2000): string {
    return this.output.slice(-chars).trim() || '(no output)';
  }

  /** Throws with its output when the process already exited (a relay that died mid-bench). */
  assertAlive(): void {
    if (this.exited) throw new Error(`${this.name} exited (code ${this.exitCode}): ${this.tail()}`);
  }

  /** Sends `signal`, waits up to graceMs, then SIGKILL. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
    if (this.exited) return;
    this.child.kill(signal);
    const timer = setTimeout(() => {
      if (!this.exited) this.child.kill('SIGKILL');
    }, graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }

  waitForExit(): Promise<void> {
    return this.exitPromise;
  }

  private keepOutput(chunk: Buffer): void {
    this.output += chunk.toString('utf8');
    if (this.output.length > 20_000) this.output = this.output.slice(-10_000);
  }
}

/** Whether an executable is on PATH (haproxy, iperf3, perf, clinic). */
export async function hasCommand(command: string, versionArgs: readonly string[] = ['--version']): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(command, versionArgs, { stdio: 'ignore' });
    child.once('error', () => resolve(false));
    child.once('exit', () => resolve(true));
  });
}

/** Runs a command to completion and returns its exit code, stdout and stderr. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', (error) => resolve({ code: -1, stdout, stderr: stderr + error.message }));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
