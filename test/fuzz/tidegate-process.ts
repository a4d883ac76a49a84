import { readdirSync, readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { startTidegateProcess, type CliProcess } from '../helpers/cli.js';

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
  readonly cli: CliProcess;
  /** Lines where a guard caught an escaped exception, in order; the fuzzer checks it after each batch. */
  readonly escaped: string[];

  private constructor(cli: CliProcess, escaped: string[]) {
    this.cli = cli;
    this.escaped = escaped;
  }

  static async start(dir: string, config: Record<string, unknown>): Promise<TidegateProcess> {
    const escaped: string[] = [];
    const cli = await startTidegateProcess(dir, config, ['fwd', 'px', 'llm', 'admin'], {
      file: 'fuzz.json',
      keepOutput: 8_000,
      onLine: (line) => {
        if (ESCAPED.test(line)) escaped.push(line.slice(0, 2_000));
      },
    });
    return new TidegateProcess(cli, escaped);
  }

  get child(): ChildProcess {
    return this.cli.child;
  }

  get exit(): { code: number | null; signal: NodeJS.Signals | null } | null {
    return this.cli.exit;
  }

  /** The tail of what it wrote to stderr. */
  get stderr(): string {
    return this.cli.stderr();
  }

  get ports(): Ports {
    const port = (name: string): number => this.cli.port(name);
    return { forward: port('fwd'), proxy: port('px'), gateway: port('llm'), admin: port('admin') };
  }

  get alive(): boolean {
    return this.cli.alive;
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

  stop(): Promise<void> {
    return this.cli.stop();
  }
}
