import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The bound ports, read from the "listening" log lines. */
export interface Ports {
  readonly forward: number;
  readonly proxy: number;
  readonly gateway: number;
  readonly admin: number;
}

/** Log lines that mean a handler let an exception escape (the guards caught it: still a bug to report). */
const ESCAPED = /"msg":"(uncaught exception|unhandled promise rejection|unexpected exception in a connection handler|admin route failed)[^"]*"/;

/** `tidegate start` in a child process, with its config in `dir`: what the fuzzer attacks and measures. */
export class TidegateProcess {
  readonly child: ChildProcess;
  /** Lines where a guard caught an escaped exception, in order; the fuzzer checks it after each batch. */
  readonly escaped: string[] = [];
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  stderr = '';
  private readonly listening = new Map<string, number>();

  private constructor(child: ChildProcess) {
    this.child = child;
    let partial = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) this.onLine(line);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-8_000);
    });
    child.on('exit', (code, signal) => (this.exit = { code, signal }));
  }

  static async start(dir: string, config: Record<string, unknown>): Promise<TidegateProcess> {
    const file = join(dir, 'fuzz.json');
    writeFileSync(file, JSON.stringify(config, null, 2));
    const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
    const t = new TidegateProcess(spawn(process.execPath, [cli, 'start', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] }));
    const deadline = Date.now() + 30_000;
    while (t.listening.size < 4) {
      if (t.exit !== null) throw new Error(`tidegate exited at start (${JSON.stringify(t.exit)}): ${t.stderr}`);
      if (Date.now() > deadline) throw new Error(`tidegate did not listen within 30 s: ${t.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return t;
  }

  get ports(): Ports {
    const port = (name: string): number => this.listening.get(name)!;
    return { forward: port('fwd'), proxy: port('px'), gateway: port('llm'), admin: port('admin') };
  }

  get alive(): boolean {
    return this.exit === null;
  }

  /** Open file descriptors of the process. */
  fds(): number {
    return readdirSync(`/proc/${this.child.pid}/fd`).length;
  }

  /** Resident set size in bytes. */
  rss(): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.child.pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  }

  async stop(): Promise<void> {
    if (this.exit !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  private onLine(line: string): void {
    if (ESCAPED.test(line)) this.escaped.push(line.slice(0, 2_000));
    if (!line.includes('listening')) return;
    try {
      const entry = JSON.parse(line) as { msg?: string; service?: string; listen?: string };
      const port = Number(entry.listen?.split(':').pop());
      if (entry.msg === 'service listening' && entry.service) this.listening.set(entry.service, port);
      else if (entry.msg === 'admin API listening') this.listening.set('admin', port);
    } catch {
      /* not a JSON log line */
    }
  }
}
