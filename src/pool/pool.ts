import { Piscina } from 'piscina';
import type { PoolConfig } from '../config/schema.js';
import type { CredentialIndexData } from '../credentials/types.js';
import { DEFAULT_SCAN_CONCURRENCY } from '../credentials/scan.js';
import { convertRequestBody } from '../dialects/convert-request.js';
import { convertResponseBody } from '../dialects/convert-response.js';
import { summarizeRequest } from '../dialects/summarize.js';
import type { ChatDialect, Dialect, RequestSummary } from '../dialects/types.js';
import { GeoDatabaseError, JsonBodyError, PoolClosedError, PoolQueueFullError, PoolTaskError, TidegateError } from '../errors.js';
import type { GeoSpec } from '../geo/database.js';
import type { Logger } from '../log.js';
import {
  TASK, type ConvertResult, type ConvertTask, type GeoOpenResult, type GeoResult, type GeoTask, type HoldTask, type ScanTask,
  type SummarizeResult, type SummarizeTask, type TaskName, type TaskProblem,
} from './tasks.js';
import { resolveJsonOffloadBytes } from './threshold.js';

export interface ParseOptions {
  /** Dotted path of the session id in the body (e.g. `metadata.user_id`), or null. */
  readonly sessionField?: string | null;
  readonly signal?: AbortSignal;
  /** The caller gives the Buffer up: it is transferred as is instead of copied (it is detached afterwards). */
  readonly transfer?: boolean;
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
}

/**
 * One Piscina pool per process. JSON methods run inline below `jsonOffloadBytes` and in the pool at or above it;
 * everything else always runs in the pool. Input problems reject with JsonBodyError (400), a full queue with
 * PoolQueueFullError (503 + Retry-After), a dead or failing worker with PoolTaskError, a closed pool with
 * PoolClosedError; an aborted signal rejects with the signal's AbortError.
 */
export interface WorkerPool {
  readonly jsonOffloadBytes: number;
  parseRequest(dialect: Dialect, body: Buffer, opts?: ParseOptions): Promise<RequestSummary>;
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

/** Overridable for tests and the bench: the compiled worker next to this module. */
export interface PoolOptions {
  readonly jsonOffloadBytes?: number;
}

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

  parseRequest(dialect: Dialect, body: Buffer, opts: ParseOptions = {}): Promise<RequestSummary> {
    const sessionField = opts.sessionField ?? null;
    if (body.byteLength < this.jsonOffloadBytes) {
      return this.runInline(opts.signal, function summarizeInline() {
        return summarizeRequest(dialect, body, sessionField);
      });
    }
    const input = transferable(body, opts.transfer === true);
    const task: SummarizeTask = { dialect, body: input, sessionField };
    return this.run<SummarizeResult>(TASK.summarize, task, [input.buffer as ArrayBuffer], opts.signal).then(function unwrapSummary(r) {
      if (r.ok) return r.summary;
      throw problemToError(r);
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
      return this.runInline(opts.signal, function convertInline() {
        return inline(from, to, body);
      });
    }
    const input = transferable(body, opts.transfer === true);
    const task: ConvertTask = { from, to, body: input };
    return this.run<ConvertResult>(name, task, [input.buffer as ArrayBuffer], opts.signal).then(function unwrapConverted(r) {
      if (r instanceof Uint8Array) return Buffer.from(r.buffer, r.byteOffset, r.byteLength);
      throw problemToError(r);
    });
  }

  scanCredentials(dir: string, files?: readonly string[], opts: { concurrency?: number } = {}): Promise<CredentialIndexData> {
    const task: ScanTask = { dir, files: files ?? null, concurrency: opts.concurrency ?? DEFAULT_SCAN_CONCURRENCY };
    return this.run<CredentialIndexData>(TASK.scanCredentials, task, undefined, undefined);
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
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.piscina.close();
  }

  private runInline<R>(signal: AbortSignal | undefined, fn: () => R): Promise<R> {
    if (this.closed) return Promise.reject(new PoolClosedError('worker pool is closed'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.inline++;
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
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
    return (p.run(task, opts) as Promise<R>).catch((err: unknown) => {
      if (err instanceof TidegateError) throw err;
      if (err instanceof Error && err.message === QUEUE_FULL_MESSAGE) {
        this.rejectedQueueFull++;
        throw new PoolQueueFullError(this.config.maxQueue);
      }
      if (err instanceof Error && err.name === 'AbortError') throw err;
      this.failed++;
      this.log.warn({ task: name, err }, 'worker pool task failed');
      throw new PoolTaskError(name, err);
    });
  }
}

/** A Buffer safe to transfer: the caller's own when it gives it up and owns its whole ArrayBuffer, else a copy. */
function transferable(body: Buffer, giveUp: boolean): Uint8Array {
  if (giveUp && body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer) return body;
  const copy = Buffer.allocUnsafeSlow(body.byteLength);
  body.copy(copy);
  return copy;
}

function problemToError(p: TaskProblem): JsonBodyError {
  return new JsonBodyError(p.problem, p.path, p.position, p.message);
}
