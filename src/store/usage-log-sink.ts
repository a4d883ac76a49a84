import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';
import type { Db } from './database.js';
import { createBatchInsert, type BatchResult } from './request-log-insert.js';
import type { RequestLogBatch } from './request-log-batch.js';

/** Where a batch of request-log rows is written. One batch at a time; a rejected promise keeps the batch unwritten. */
export interface BatchSink {
  readonly kind: 'thread' | 'inline';
  write(batch: RequestLogBatch): Promise<BatchResult>;
  close(): Promise<void>;
}

/** Writes on the caller's own connection (an in-memory database, or when the writer thread cannot run). */
export class InlineSink implements BatchSink {
  readonly kind = 'inline' as const;
  private readonly insert: (batch: RequestLogBatch) => BatchResult;

  constructor(db: Db) {
    this.insert = createBatchInsert(db);
  }

  write(batch: RequestLogBatch): Promise<BatchResult> {
    try {
      return Promise.resolve(this.insert(batch));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Writes in the request-log thread (usage-log-thread.ts) on its own connection to the same file. If the thread dies,
 * the batch in flight is kept by the caller and this and later batches are written inline on the main connection.
 */
export class ThreadSink implements BatchSink {
  private readonly db: Db;
  private readonly busyTimeoutMs: number;
  private readonly log: Logger;
  /** Started with the first batch: a runtime whose database never sees a request row runs no writer thread. */
  private worker: Worker | null = null;
  private fallback: InlineSink | null = null;
  private resolveBatch: ((result: BatchResult) => void) | null = null;
  private rejectBatch: ((err: Error) => void) | null = null;
  private closing = false;

  constructor(db: Db, busyTimeoutMs: number, log: Logger) {
    this.db = db;
    this.busyTimeoutMs = busyTimeoutMs;
    this.log = log;
  }

  private thread(): Worker {
    if (this.worker !== null) return this.worker;
    const worker = new Worker(new URL('./usage-log-thread.js', import.meta.url), {
      workerData: { file: this.db.name, busyTimeoutMs: this.busyTimeoutMs },
    });
    worker.unref();
    worker.on('message', this.onMessage.bind(this));
    worker.on('error', this.onBroken.bind(this));
    worker.on('exit', this.onExit.bind(this));
    this.worker = worker;
    return worker;
  }

  get kind(): 'thread' | 'inline' {
    return this.fallback === null ? 'thread' : 'inline';
  }

  write(batch: RequestLogBatch): Promise<BatchResult> {
    if (this.fallback !== null) return this.fallback.write(batch);
    const sink = this;
    const worker = this.thread();
    // Referenced only while a batch is out: an idle writer never keeps the process alive.
    worker.ref();
    return new Promise<BatchResult>(function sendBatch(resolve, reject) {
      sink.resolveBatch = resolve;
      sink.rejectBatch = reject;
      worker.postMessage({ batch: batch.toMessage() });
    });
  }

  private onMessage(message: { result?: BatchResult; error?: string }): void {
    const resolve = this.resolveBatch;
    const reject = this.rejectBatch;
    this.resolveBatch = this.rejectBatch = null;
    this.worker?.unref();
    if (message.result !== undefined) resolve?.(message.result);
    else reject?.(new Error(message.error ?? 'request log writer failed'));
  }

  private onBroken(err: Error): void {
    if (this.fallback !== null) return;
    this.log.error({ err: err.message }, 'request log writer thread failed; writing request logs on the main thread');
    this.fallback = new InlineSink(this.db);
    const reject = this.rejectBatch;
    this.resolveBatch = this.rejectBatch = null;
    reject?.(err);
  }

  private onExit(code: number): void {
    if (!this.closing) this.onBroken(new Error(`request log writer thread exited with code ${code}`));
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const worker = this.worker;
    if (this.fallback !== null || worker === null) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref();
    worker.postMessage({ close: true });
    await exited;
  }
}
