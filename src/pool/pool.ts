import { Piscina } from 'piscina';
import type { PoolConfig } from '../config/types.js';
import { errorFromData, PoolClosedError, PoolQueueFullError, PoolTaskError, TidegateError } from '../errors.js';
import type { Logger } from '../log.js';
import { BodyBufferPool } from './body-buffers.js';
import { HOLD_TASK } from './hold.js';
import type { Task, TaskOutcome } from './task.js';
import { resolveJsonOffloadBytes } from './threshold.js';

export interface RunOptions {
  /** ArrayBuffers of the input to move to the worker (they are detached here). */
  readonly transferList?: readonly ArrayBuffer[];
  /** Aborting removes a queued task; a running one terminates its worker (Piscina's rule), which is replaced. */
  readonly signal?: AbortSignal;
}

export interface Percentiles {
  readonly p50: number;
  readonly p99: number;
}

/** For `GET /status`. Times in ms. */
export interface PoolStats {
  readonly threads: number;
  readonly maxThreads: number;
  readonly queueSize: number;
  readonly maxQueue: number;
  /** Share of the pool's capacity spent running tasks since start (0..1). */
  readonly utilization: number;
  readonly runTime: Percentiles;
  readonly waitTime: Percentiles;
  readonly completed: number;
  readonly failed: number;
  readonly rejectedQueueFull: number;
  /** Work kept on the main thread because `offloads()` said its input was below the threshold. */
  readonly inline: number;
  readonly jsonOffloadBytes: number;
  /** Body copies served from recycled buffers / newly allocated, and bytes kept idle for reuse. */
  readonly bodyBuffers: { readonly reused: number; readonly allocated: number; readonly idleBytes: number };
}

/**
 * One Piscina pool per process; it runs named tasks and knows no domain (the tasks live with theirs:
 * dialects/tasks.ts, credentials/tasks.ts, geo/tasks.ts). A task's TidegateError (a fault of its input) rejects
 * as the same class, rebuilt from data; a full queue rejects with PoolQueueFullError (503 + Retry-After), a dead
 * or failing worker with PoolTaskError, a closed pool with PoolClosedError; an aborted signal rejects with an
 * AbortError.
 */
export interface WorkerPool {
  readonly jsonOffloadBytes: number;
  readonly closed: boolean;
  /**
   * The one inline-or-offload decision for a body of `byteLength` bytes: true at or above `jsonOffloadBytes`.
   * A false answer counts one inline task (the caller does the work on its own thread, without a promise).
   */
  offloads(byteLength: number): boolean;
  run<I, O>(task: Task<I, O>, input: I, opts?: RunOptions): Promise<O>;
  /**
   * The refusal `run()` would answer at once (PoolClosedError, or PoolQueueFullError, counted), else null: a caller
   * asks first so that it copies no body for a task that cannot be queued.
   */
  refusal(): Promise<never> | null;
  /**
   * The bytes to send to a worker by transfer: `body` itself when the caller gives it up (`giveUp`) and it owns its
   * whole ArrayBuffer, else a copy in a recycled buffer (the caller's Buffer stays usable).
   */
  transferable(body: Buffer, giveUp: boolean): Uint8Array;
  /** Takes back a copy made by `transferable()` that a worker moved back, for the next body of its size. */
  recycle(buffer: ArrayBuffer): void;
  /** Diagnostic: parks one worker until `flag[0]` is set (see pool/hold.ts). */
  hold(flag: SharedArrayBuffer, maxMs?: number): Promise<boolean>;
  stats(): PoolStats;
  close(): Promise<void>;
}

const QUEUE_FULL_MESSAGE = 'Task queue is at limit';

/** Overrides for tests and the bench: `jsonOffloadBytes` here wins over the config. */
export interface PoolOptions {
  readonly jsonOffloadBytes?: number;
}

/**
 * Piscina loads a worker with require() first and import() second. Where Node can require() ES modules (20.19+),
 * that path has aborted the process (a V8 fatal error, "IsGraphAsync … instantiated module") when a pool closes
 * while a worker is still loading, so workers get require(esm) turned off and load through import(). An explicit
 * execArgv replaces inheritance and is validated per thread, which rejects profiler flags (0x's --prof, perf's
 * --perf-basic-prof…), so when the parent runs with flags of its own the workers simply inherit them.
 */
const WORKER_EXEC_ARGV: string[] | undefined =
  (process.features as { require_module?: boolean }).require_module && process.execArgv.length === 0
    ? ['--no-experimental-require-module']
    : undefined;

export function createWorkerPool(config: PoolConfig, log: Logger, options: PoolOptions = {}): WorkerPool {
  const threshold = options.jsonOffloadBytes !== undefined
    ? { bytes: options.jsonOffloadBytes, source: 'option' }
    : resolveJsonOffloadBytes(config.jsonOffloadBytes);
  // No default filename: every run names its task's file (Piscina's per-run `filename`).
  const piscina = new Piscina({
    minThreads: Math.min(1, config.threads),
    maxThreads: config.threads,
    idleTimeout: config.idleTimeoutMs,
    maxQueue: config.maxQueue,
    recordTiming: true,
    execArgv: WORKER_EXEC_ARGV,
  });
  log.info({
    threads: config.threads, maxQueue: config.maxQueue, jsonOffloadBytes: threshold.bytes,
    thresholdSource: threshold.source,
  }, 'worker pool ready');
  return new PiscinaWorkerPool(piscina, config, threshold.bytes, log);
}

/** A task's outcome to its value, or its error rebuilt as its class. */
function unwrapOutcome<O>(outcome: TaskOutcome<O>): O {
  if (outcome.ok) return outcome.value;
  throw errorFromData(outcome.error);
}

class PiscinaWorkerPool implements WorkerPool {
  readonly jsonOffloadBytes: number;
  closed = false;
  private failed = 0;
  private rejectedQueueFull = 0;
  private inline = 0;
  private readonly buffers = new BodyBufferPool();
  /** Maps Piscina's rejections to our errors (one handler per task, made once). */
  private readonly failHandlers = new Map<Task<unknown, unknown>, (err: unknown) => never>();

  constructor(
    private readonly piscina: Piscina,
    private readonly config: PoolConfig,
    jsonOffloadBytes: number,
    private readonly log: Logger,
  ) {
    this.jsonOffloadBytes = jsonOffloadBytes;
    // A worker that dies is replaced by Piscina; its task is rejected (handled in run()). Log it once here.
    piscina.on('error', (err: unknown) => log.error({ err }, 'worker pool: worker error'));
  }

  offloads(byteLength: number): boolean {
    if (byteLength >= this.jsonOffloadBytes) return true;
    this.inline++;
    return false;
  }

  run<I, O>(task: Task<I, O>, input: I, opts?: RunOptions): Promise<O> {
    const refused = this.refusal();
    if (refused) return refused;
    const run: { filename: string; name: string; transferList?: ArrayBuffer[]; signal?: AbortSignal } = {
      filename: task.filename, name: task.name,
    };
    if (opts?.transferList) run.transferList = opts.transferList as ArrayBuffer[];
    if (opts?.signal) run.signal = opts.signal;
    const done = this.piscina.run(input, run) as Promise<TaskOutcome<O>>;
    return done.then(unwrapOutcome as (o: TaskOutcome<O>) => O, this.taskFailed(task as Task<unknown, unknown>));
  }

  refusal(): Promise<never> | null {
    if (this.closed) return Promise.reject(new PoolClosedError('worker pool is closed'));
    // Piscina queues only when no worker is free; refuse before it posts (clones) anything when the queue is full.
    if (this.piscina.queueSize >= this.config.maxQueue) {
      this.rejectedQueueFull++;
      return Promise.reject(new PoolQueueFullError(this.config.maxQueue));
    }
    return null;
  }

  transferable(body: Buffer, giveUp: boolean): Uint8Array {
    if (giveUp && body.byteOffset === 0 && body.byteLength === body.buffer.byteLength
      && body.buffer instanceof ArrayBuffer) return body;
    return this.buffers.copy(body);
  }

  recycle(buffer: ArrayBuffer): void {
    this.buffers.release(buffer);
  }

  hold(flag: SharedArrayBuffer, maxMs = 30_000): Promise<boolean> {
    return this.run(HOLD_TASK, { flag, maxMs });
  }

  stats(): PoolStats {
    const p = this.piscina;
    const h = p.histogram;
    return {
      threads: p.threads.length,
      maxThreads: this.config.threads,
      queueSize: p.queueSize,
      maxQueue: this.config.maxQueue,
      utilization: p.utilization,
      runTime: { p50: h.runTime.p50, p99: h.runTime.p99 },
      waitTime: { p50: h.waitTime.p50, p99: h.waitTime.p99 },
      completed: p.completed,
      failed: this.failed,
      rejectedQueueFull: this.rejectedQueueFull,
      inline: this.inline,
      jsonOffloadBytes: this.jsonOffloadBytes,
      bodyBuffers: { reused: this.buffers.reused, allocated: this.buffers.allocated, idleBytes: this.buffers.idle },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.piscina.close();
  }

  private taskFailed(task: Task<unknown, unknown>): (err: unknown) => never {
    let handler = this.failHandlers.get(task);
    if (handler) return handler;
    const pool = this;
    const name = task.name;
    handler = function onTaskFailed(err: unknown): never {
      if (err instanceof TidegateError) throw err;
      if (err instanceof Error && err.message === QUEUE_FULL_MESSAGE) {
        pool.rejectedQueueFull++;
        throw new PoolQueueFullError(pool.config.maxQueue);
      }
      if (err instanceof Error && err.name === 'AbortError') throw err;
      pool.failed++;
      pool.log.warn({ task: name, err }, 'worker pool task failed');
      throw new PoolTaskError(name, err);
    };
    this.failHandlers.set(task, handler);
    return handler;
  }
}
