import { Piscina } from 'piscina';
import type { PoolConfig } from '../config/schema.js';
import type { CredentialIndexData } from '../credentials/types.js';
import { DEFAULT_SCAN_CONCURRENCY } from '../credentials/scan.js';
import { convertRequestBody } from '../dialects/convert-request.js';
import { convertResponseBody } from '../dialects/convert-response.js';
import { summarizeRequest } from '../dialects/summarize.js';
import type { ChatDialect, Dialect, RequestSummary } from '../dialects/types.js';
import { CredentialsDirError, GeoDatabaseError, JsonBodyError, PoolClosedError, PoolQueueFullError, PoolTaskError, TidegateError } from '../errors.js';
import type { GeoSpec } from '../geo/database.js';
import type { Logger } from '../log.js';
import {
  TASK, type ConvertResult, type ConvertTask, type GeoOpenResult, type GeoResult, type GeoTask, type HoldTask, type ScanResult, type ScanTask,
  type SummarizeResult, type SummarizeTask, type TaskName, type TaskProblem,
} from './tasks.js';
import { BodyBufferPool } from './body-buffers.js';
import { resolveJsonOffloadBytes } from './threshold.js';

export interface ParseOptions {
  /** Dotted path of the session id in the body (e.g. `metadata.user_id`), or null. */
  readonly sessionField?: string | null;
  readonly signal?: AbortSignal;
  /**
   * The caller gives the Buffer up: when it owns its whole ArrayBuffer it is transferred to the worker as is
   * (detached here) and moved back as `ParsedRequest.body`, so a large body crosses threads without a copy. Without
   * it (or for a slice of a larger allocation) the pool copies the body and the caller's Buffer stays usable.
   */
  readonly transfer?: boolean;
}

/** The routing summary plus the body's bytes: the caller's Buffer, or the same bytes moved back (`transfer`). */
export interface ParsedRequest extends RequestSummary {
  readonly body: Buffer;
}

export interface ConvertOptions {
  readonly signal?: AbortSignal;
  readonly transfer?: boolean;
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
  /** JSON work done on the main thread because the body was below the threshold. */
  readonly inline: number;
  readonly jsonOffloadBytes: number;
  /** Body copies served from recycled buffers / newly allocated, and bytes kept idle for reuse. */
  readonly bodyBuffers: { readonly reused: number; readonly allocated: number; readonly idleBytes: number };
}

/**
 * One Piscina pool per process. JSON methods run inline below `jsonOffloadBytes` and in the pool at or above it;
 * everything else always runs in the pool. Input problems reject with JsonBodyError (400), a full queue with
 * PoolQueueFullError (503 + Retry-After), a dead or failing worker with PoolTaskError, a closed pool with
 * PoolClosedError; an aborted signal rejects with the signal's reason (an AbortError). Aborting removes a queued
 * task from the queue; aborting a task that is already running terminates its worker (Piscina's rule), which is
 * replaced: pass a signal where abandoning the work is worth a thread restart (large bodies of a gone client).
 */
export interface WorkerPool {
  readonly jsonOffloadBytes: number;
  parseRequest(dialect: Dialect, body: Buffer, opts?: ParseOptions): Promise<ParsedRequest>;
  convertRequest(from: ChatDialect, to: ChatDialect, body: Buffer, opts?: ConvertOptions): Promise<Buffer>;
  convertResponse(from: ChatDialect, to: ChatDialect, body: Buffer, opts?: ConvertOptions): Promise<Buffer>;
  /** Whole directory when `files` is omitted; else only those files (relative paths). */
  scanCredentials(dir: string, files?: readonly string[], opts?: { concurrency?: number }): Promise<CredentialIndexData>;
  /** Opens (and caches in the worker) the database; rejects with GeoDatabaseError naming the file. */
  geoOpen(spec: GeoSpec): Promise<string>;
  /** Countries for a batch of IPs, in order. */
  geoLookup(spec: GeoSpec, ips: readonly string[]): Promise<(string | null)[]>;
  /** Diagnostic: parks one worker until `flag[0]` is set (see HoldTask). */
  hold(flag: SharedArrayBuffer, maxMs?: number): Promise<boolean>;
  stats(): PoolStats;
  close(): Promise<void>;
}

const QUEUE_FULL_MESSAGE = 'Task queue is at limit';

/** Overrides for tests and the bench: `jsonOffloadBytes` here wins over the config and the bench file. */
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
  const piscina = new Piscina({
    filename: new URL('./worker.js', import.meta.url).href,
    minThreads: Math.min(1, config.threads),
    maxThreads: config.threads,
    idleTimeout: config.idleTimeoutMs,
    maxQueue: config.maxQueue,
    recordTiming: true,
    execArgv: WORKER_EXEC_ARGV,
  });
  log.info({ threads: config.threads, maxQueue: config.maxQueue, jsonOffloadBytes: threshold.bytes, thresholdSource: threshold.source }, 'worker pool ready');
  return new PiscinaWorkerPool(piscina, config, threshold.bytes, log);
}

class PiscinaWorkerPool implements WorkerPool {
  readonly jsonOffloadBytes: number;
  private failed = 0;
  private rejectedQueueFull = 0;
  private inline = 0;
  private closed = false;
  private readonly buffers = new BodyBufferPool();

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

  parseRequest(dialect: Dialect, body: Buffer, opts: ParseOptions = {}): Promise<ParsedRequest> {
    const sessionField = opts.sessionField ?? null;
    if (body.byteLength < this.jsonOffloadBytes) {
      const refused = this.refuseInline(opts.signal);
      if (refused) return refused;
      try {
        return Promise.resolve(parsedRequest(summarizeRequest(dialect, body, sessionField), body));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const input = this.transferable(body, opts.transfer === true);
    const moved = input === body;
    const buffers = this.buffers;
    const task: SummarizeTask = { dialect, body: input, sessionField };
    return this.run<SummarizeResult>(TASK.summarize, task, [input.buffer as ArrayBuffer], opts.signal).then(function unwrapSummary(r) {
      if (!r.ok) throw problemToError(r);
      if (moved) return parsedRequest(r.summary, Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength));
      buffers.release(r.body.buffer as ArrayBuffer);
      return parsedRequest(r.summary, body);
    });
  }

  convertRequest(from: ChatDialect, to: ChatDialect, body: Buffer, opts: ConvertOptions = {}): Promise<Buffer> {
    return this.convert(TASK.convertRequest, convertRequestBody, from, to, body, opts);
  }

  convertResponse(from: ChatDialect, to: ChatDialect, body: Buffer, opts: ConvertOptions = {}): Promise<Buffer> {
    return this.convert(TASK.convertResponse, convertResponseBody, from, to, body, opts);
  }

  private convert(
    name: TaskName,
    inline: (from: ChatDialect, to: ChatDialect, body: Uint8Array) => Buffer,
    from: ChatDialect, to: ChatDialect, body: Buffer, opts: ConvertOptions,
  ): Promise<Buffer> {
    if (body.byteLength < this.jsonOffloadBytes) {
      const refused = this.refuseInline(opts.signal);
      if (refused) return refused;
      try {
        return Promise.resolve(inline(from, to, body));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const input = this.transferable(body, opts.transfer === true);
    const task: ConvertTask = { from, to, body: input };
    const buffers = this.buffers;
    return this.run<ConvertResult>(name, task, [input.buffer as ArrayBuffer], opts.signal).then(function unwrapConverted(r) {
      if (!r.ok) throw problemToError(r);
      if (r.input) buffers.release(r.input.buffer as ArrayBuffer);
      return Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength);
    });
  }

  scanCredentials(dir: string, files?: readonly string[], opts: { concurrency?: number } = {}): Promise<CredentialIndexData> {
    const task: ScanTask = { dir, files: files ?? null, concurrency: opts.concurrency ?? DEFAULT_SCAN_CONCURRENCY };
    return this.run<ScanResult>(TASK.scanCredentials, task, undefined, undefined).then(function unwrapScan(r) {
      if (r.ok) return r.data;
      throw new CredentialsDirError(r.dir, r.message.replace(/^credentials directory .*?: /, ''));
    });
  }

  geoOpen(spec: GeoSpec): Promise<string> {
    return this.run<GeoOpenResult>(TASK.geoOpen, spec, undefined, undefined).then(function unwrapOpen(r) {
      if (r.ok) return r.file;
      throw new GeoDatabaseError(r.file, r.message.replace(/^GeoIP database .*?: /, ''));
    });
  }

  geoLookup(spec: GeoSpec, ips: readonly string[]): Promise<(string | null)[]> {
    const task: GeoTask = { spec, ips };
    return this.run<GeoResult>(TASK.geoLookup, task, undefined, undefined).then(function unwrapGeo(r) {
      if (r.ok) return r.countries;
      throw new GeoDatabaseError(r.file, r.message.replace(/^GeoIP database .*?: /, ''));
    });
  }

  hold(flag: SharedArrayBuffer, maxMs = 30_000): Promise<boolean> {
    const task: HoldTask = { flag, maxMs };
    return this.run<boolean>(TASK.hold, task, undefined, undefined);
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

  /** A rejection when inline work must not run (pool closed, signal aborted); else counts the inline task. */
  private refuseInline(signal: AbortSignal | undefined): Promise<never> | null {
    if (this.closed) return Promise.reject(new PoolClosedError('worker pool is closed'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.inline++;
    return null;
  }

  private run<R>(name: TaskName, task: unknown, transferList: ArrayBuffer[] | undefined, signal: AbortSignal | undefined): Promise<R> {
    if (this.closed) return Promise.reject(new PoolClosedError('worker pool is closed'));
    const p = this.piscina;
    // Piscina queues only when no worker is free; refuse before copying anything when the queue is already full.
    if (p.queueSize >= this.config.maxQueue) {
      this.rejectedQueueFull++;
      return Promise.reject(new PoolQueueFullError(this.config.maxQueue));
    }
    const opts: { name: string; transferList?: ArrayBuffer[]; signal?: AbortSignal } = { name };
    if (transferList) opts.transferList = transferList;
    if (signal) opts.signal = signal;
    return (p.run(task, opts) as Promise<R>).catch(this.taskFailed(name));
  }

  /** Maps Piscina's rejections to our errors (one handler per task name, made once). */
  private readonly failHandlers = new Map<TaskName, (err: unknown) => never>();

  /** The caller's Buffer when it gives it up and owns its whole ArrayBuffer; else a copy in a recycled buffer. */
  private transferable(body: Buffer, giveUp: boolean): Uint8Array {
    if (giveUp && body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer) return body;
    return this.buffers.copy(body);
  }
  private taskFailed(name: TaskName): (err: unknown) => never {
    let handler = this.failHandlers.get(name);
    if (handler) return handler;
    const pool = this;
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
    this.failHandlers.set(name, handler);
    return handler;
  }
}


function parsedRequest(s: RequestSummary, body: Buffer): ParsedRequest {
  return { model: s.model, stream: s.stream, sessionId: s.sessionId, messageCount: s.messageCount, estimatedPromptTokens: s.estimatedPromptTokens, body };
}

function problemToError(p: TaskProblem): JsonBodyError {
  return new JsonBodyError(p.problem, p.path, p.position, p.message);
}
