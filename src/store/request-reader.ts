import { Worker } from 'node:worker_threads';
import type { Page } from '../contracts/admin-api.js';
import type { Logger } from '../log.js';
import type { Db } from './database.js';
import {
  RequestQuery, type GroupBy, type RequestFilter, type RequestRow, type SummaryRow,
} from './request-query.js';

/** A `GET /requests` page (contracts/admin-api.ts). */
export type RequestPage = Page<RequestRow>;

/** What the reader thread is asked (request-query-thread.ts). */
export type ReaderRequest =
  | {
    readonly id: number; readonly op: 'page'; readonly filter: RequestFilter; readonly limit: number;
    readonly cursor: { ts: number; id: number } | null;
  }
  | { readonly id: number; readonly op: 'summary'; readonly groupBy: GroupBy; readonly filter: RequestFilter };

interface Waiting {
  resolve(result: unknown): void;
  reject(err: Error): void;
}

/**
 * The admin API's reads of the request log, off the event loop: queries go to a thread of their own with its own
 * read-only connection (started with the first query, idle threads never keep the process alive). An in-memory
 * database, which no other connection can see, is read inline; so is every query after the thread failed (logged).
 * `plan()` (tests, bench) reads the main connection: EXPLAIN runs nothing.
 */
export class RequestReader {
  private readonly db: Db;
  private readonly log: Logger;
  private readonly busyTimeoutMs: number;
  private readonly main: RequestQuery;
  private worker: Worker | null = null;
  /** Set when the thread cannot run: queries go to the main connection. */
  private inline: boolean;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private closing = false;

  constructor(db: Db, log: Logger, busyTimeoutMs = 5000) {
    this.db = db;
    this.log = log;
    this.busyTimeoutMs = busyTimeoutMs;
    // Migrations and indexes on the main connection, at start, before any thread reads.
    this.main = new RequestQuery(db);
    this.inline = db.memory;
  }

  /** One page of rows matching `filter`, newest first, after `cursor`. */
  page(filter: RequestFilter, limit: number, cursor: { ts: number; id: number } | null): Promise<RequestPage> {
    if (this.inline) return settle(() => this.main.page(filter, limit, cursor));
    return this.ask({ id: this.nextId++, op: 'page', filter, limit, cursor }) as Promise<RequestPage>;
  }

  summary(groupBy: GroupBy, filter: RequestFilter): Promise<SummaryRow[]> {
    if (this.inline) return settle(() => this.main.summary(groupBy, filter));
    return this.ask({ id: this.nextId++, op: 'summary', groupBy, filter }) as Promise<SummaryRow[]>;
  }

  plan(filter: RequestFilter): string {
    return this.main.plan(filter);
  }

  /** Where queries run now: `thread`, or `inline` (in-memory database, or the thread failed). */
  get mode(): 'thread' | 'inline' {
    return this.inline ? 'inline' : 'thread';
  }

  /** Stops the thread (queries still waiting are refused). */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const worker = this.worker;
    if (worker === null) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref();
    worker.postMessage({ close: true });
    await exited;
    this.failAll(new Error('the request log reader closed'));
  }

  private ask(request: ReaderRequest): Promise<unknown> {
    if (this.closing) return Promise.reject(new Error('the request log reader is closed'));
    const worker = this.thread();
    // Referenced only while a query is out: an idle reader never keeps the process alive.
    if (this.waiting.size === 0) worker.ref();
    const waiting = this.waiting;
    return new Promise(function sendQuery(resolve, reject) {
      waiting.set(request.id, { resolve, reject });
      worker.postMessage(request);
    });
  }

  private thread(): Worker {
    if (this.worker !== null) return this.worker;
    const worker = new Worker(new URL('./request-query-thread.js', import.meta.url), {
      workerData: { file: this.db.name, busyTimeoutMs: this.busyTimeoutMs },
    });
    worker.unref();
    worker.on('message', this.onMessage.bind(this));
    worker.on('error', this.onBroken.bind(this));
    worker.on('exit', this.onExit.bind(this));
    this.worker = worker;
    return worker;
  }

  private onMessage(message: { id: number; result?: unknown; error?: string }): void {
    const waiting = this.waiting.get(message.id);
    if (waiting === undefined) return;
    this.waiting.delete(message.id);
    if (this.waiting.size === 0) this.worker?.unref();
    if (message.error === undefined) waiting.resolve(message.result);
    else waiting.reject(new Error(message.error));
  }

  private onBroken(err: Error): void {
    if (this.inline) return;
    this.log.error({ err: err.message }, 'request log reader thread failed; reading on the main thread now');
    this.inline = true;
    this.failAll(err);
  }

  private onExit(code: number): void {
    if (!this.closing) this.onBroken(new Error(`request log reader thread exited with code ${code}`));
  }

  private failAll(err: Error): void {
    for (const waiting of this.waiting.values()) waiting.reject(err);
    this.waiting.clear();
  }
}

function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err);
  }
}
