import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChurnResult, LoadReply, LoadRequest, LoadRole } from './load-worker.js';
import { sleep } from './ports.js';

export type { ChurnResult } from './load-worker.js';

const workerPath = fileURLToPath(new URL('./load-worker.js', import.meta.url));

/** One forked load process; one request at a time. */
export class LoadProcess {
  readonly role: LoadRole;
  readonly child: ChildProcess;
  private waiting: ((reply: LoadReply) => void) | null = null;
  private failure: Error | null = null;

  private constructor(role: LoadRole, args: readonly string[]) {
    this.role = role;
    this.child = fork(workerPath, [role, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (message: LoadReply) => {
      const waiting = this.waiting;
      this.waiting = null;
      waiting?.(message);
    });
    this.child.once('exit', (code) => {
      this.failure = new Error(`load process ${role} exited with code ${code}`);
      const waiting = this.waiting;
      this.waiting = null;
      waiting?.({ type: 'error', message: this.failure.message });
    });
  }

  static async start(role: LoadRole, args: readonly string[] = []): Promise<{ load: LoadProcess; port: number }> {
    const load = new LoadProcess(role, args);
    if (role === 'sink' || role === 'churn-server') {
      const ready = await load.next();
      if (ready.type !== 'ready') throw new Error(`load process ${role} did not start: ${JSON.stringify(ready)}`);
      return { load, port: ready.port };
    }
    return { load, port: 0 };
  }

  async request(message: LoadRequest): Promise<LoadReply> {
    const answer = this.next();
    this.child.send(message);
    const reply = await answer;
    if (reply.type === 'error') throw new Error(reply.message);
    return reply;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      this.child.once('exit', () => resolve());
      this.child.kill('SIGTERM');
    });
  }

  private next(): Promise<LoadReply> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiting) return Promise.reject(new Error(`load process ${this.role}: a request is already pending`));
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }
}

/** Anything that counts the bytes it received. */
export interface ByteCounter {
  bytes(): Promise<number>;
}

/**
 * Resolves once the count has stood still for `quietMs`: after a source stops, a relay still passes on what its
 * sockets hold (seconds of it after 100 streams), which must not be counted for the path measured next.
 */
export async function settleSink(sink: ByteCounter, quietMs = 300, timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = await sink.bytes();
  let stillSince = performance.now();
  while (performance.now() - stillSince < quietMs && performance.now() < deadline) {
    await sleep(100);
    const now = await sink.bytes();
    if (now !== last) {
      last = now;
      stillSince = performance.now();
    }
  }
}

export class Sink implements ByteCounter {
  constructor(
    readonly load: LoadProcess,
    readonly port: number,
  ) {}

  get pid(): number {
    const pid = this.load.child.pid;
    if (pid === undefined) throw new Error('the sink load process has no pid');
    return pid;
  }

  static async start(): Promise<Sink> {
    const { load, port } = await LoadProcess.start('sink');
    return new Sink(load, port);
  }

  async bytes(): Promise<number> {
    const reply = await this.load.request({ type: 'count' });
    if (reply.type !== 'count') throw new Error(`sink answered ${reply.type}`);
    return reply.bytes;
  }

  /** See settleSink. */
  settle(quietMs = 300, timeoutMs = 15_000): Promise<void> {
    return settleSink(this, quietMs, timeoutMs);
  }

  stop(): Promise<void> {
    return this.load.stop();
  }
}

/** `streams` connections to 127.0.0.1:port, each writing `chunkSize`-byte buffers as fast as the path takes. */
export async function startSource(port: number, streams: number, chunkSize = 256 * 1024): Promise<LoadProcess> {
  const { load } = await LoadProcess.start('source');
  await load.request({ type: 'start', port, streams, chunkSize });
  return load;
}

export async function stopSource(source: LoadProcess): Promise<void> {
  await source.request({ type: 'stop' });
  await source.stop();
}

/** A server that reads `size` bytes, answers `size` bytes and closes (the other end of connection churn). */
export async function startChurnServer(size: number): Promise<{ load: LoadProcess; port: number }> {
  return LoadProcess.start('churn-server', [String(size)]);
}

/**
 * Connection churn against 127.0.0.1:port (or several ports in turn): connect, send `size` bytes, read `size` bytes,
 * close; repeat. With `socksTarget`, `port` is a SOCKS5 proxy and each connection first asks it for
 * 127.0.0.1:socksTarget.
 */
export async function runChurn(
  port: number | readonly number[], concurrency: number, durationMs: number, size: number, socksTarget?: number,
): Promise<ChurnResult> {
  const { load } = await LoadProcess.start('churn');
  // Several ports: one client taking them in turn, connection by connection.
  const target = typeof port === 'number' ? { port } : { port: port[0]!, ports: port };
  try {
    const reply = await load.request(
      socksTarget === undefined
        ? { type: 'run', ...target, concurrency, durationMs, size }
        : { type: 'run', ...target, concurrency, durationMs, size, socksTarget },
    );
    if (reply.type !== 'result') throw new Error(`churn answered ${reply.type}`);
    return reply.result;
  } finally {
    await load.stop();
  }
}
