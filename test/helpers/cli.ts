import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI to completion. */
export function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A CLI process left running; `output()` is everything it printed so far. */
export interface CliProcess {
  readonly child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  /** Resolves when a log line contains `text`. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
}

export function startCli(args: readonly string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
  let out = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  function onOutput(c: Buffer): void {
    out += c;
    for (const w of waiters.splice(0)) {
      if (out.includes(w.text)) w.resolve();
      else waiters.push(w);
    }
  }
  child.stdout!.on('data', onOutput);
  child.stderr!.on('data', onOutput);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    exited,
    waitFor(text, timeoutMs = 10_000) {
      if (out.includes(text)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for "${text}"; output:\n${out}`)), timeoutMs);
        waiters.push({ text, resolve: () => { clearTimeout(timer); resolve(); } });
        exited.then(() => {
          clearTimeout(timer);
          if (!out.includes(text)) reject(new Error(`exited before "${text}"; output:\n${out}`));
        });
      });
    },
  };
}
