import type { Logger } from '../log.js';
import { applyMigrations, type Db, type Migration } from './database.js';
import type { BatchResult } from './request-log-insert.js';
import { RequestLogBatch } from './request-log-batch.js';
import type { RequestLogRow } from '../contracts/records.js';
import type { RequestLogColumns, UsageLog as UsageLogContract, UsageLogStats } from '../contracts/usage-log.js';
import { InlineSink, ThreadSink, type BatchSink } from './usage-log-sink.js';

export const USAGE_MIGRATIONS: readonly Migration[] = [
  {
    id: 'usage/1',
    sql: `CREATE TABLE request_log (
      id INTEGER PRIMARY KEY,
      ts INTEGER NOT NULL,
      service TEXT NOT NULL,
      user TEXT,
      channel TEXT,
      endpoint TEXT NOT NULL,
      model TEXT,
      stream INTEGER NOT NULL,
      status INTEGER NOT NULL CHECK (status BETWEEN 0 AND 999),
      prompt_tokens INTEGER CHECK (prompt_tokens IS NULL OR prompt_tokens >= 0),
      completion_tokens INTEGER CHECK (completion_tokens IS NULL OR completion_tokens >= 0),
      total_tokens INTEGER CHECK (total_tokens IS NULL OR total_tokens >= 0),
      latency_ms REAL NOT NULL,
      ttfb_ms REAL,
      attempts INTEGER NOT NULL,
      error TEXT
    );
    CREATE INDEX request_log_ts ON request_log (ts);
    CREATE INDEX request_log_user_ts ON request_log (user, ts);`,
  },
  {
    // Token classes apart, cost and the estimate flag; rows of older versions keep NULL (estimated 0).
    id: 'usage/3',
    sql: `ALTER TABLE request_log ADD COLUMN input_tokens INTEGER;
    ALTER TABLE request_log ADD COLUMN cache_read_tokens INTEGER;
    ALTER TABLE request_log ADD COLUMN cache_write_tokens INTEGER;
    ALTER TABLE request_log ADD COLUMN output_tokens INTEGER;
    ALTER TABLE request_log ADD COLUMN reasoning_tokens INTEGER;
    ALTER TABLE request_log ADD COLUMN cost_micros INTEGER;
    ALTER TABLE request_log ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0;`,
  },
  {
    // The client's address (a trusted PROXY header's when the listener accepts one); older rows keep NULL.
    id: 'usage/4',
    sql: 'ALTER TABLE request_log ADD COLUMN client TEXT;',
  },
];

export interface UsageLogOptions {
  /** Flush when this many rows are pending (default 500). */
  readonly batchSize?: number;
  /** Flush at least this often while rows are pending (default 1 s). */
  readonly intervalMs?: number;
  /** Rows kept while the database refuses writes; the oldest are dropped (and counted) beyond it. */
  readonly maxPending?: number;
  /** How long the writer waits for a database locked by another connection (default 5 s). */
  readonly busyTimeoutMs?: number;
}

/**
 * The batched request-log writer: rows queue in memory and go to SQLite in one transaction per batch (500 rows or
 * 1 s, whichever comes first), written by a thread of their own so SQLite never runs on the event loop (an in-memory
 * database is written inline). One batch is in flight at a time, so rows land in order. A row SQLite refuses is
 * isolated and counted, never dropping its batch; a batch that fails as a whole goes back to the queue for the next
 * flush. `flush()` runs on reload and on shutdown.
 */
export class UsageLog implements UsageLogContract {
  private readonly log: Logger;
  private readonly batchSize: number;
  private readonly intervalMs: number;
  private readonly maxPending: number;
  private readonly sink: BatchSink;
  /** Batches waiting, oldest first; the last one takes new rows until it is full. */
  private queue: RequestLogBatch[] = [];
  private queuedRows = 0;
  /** The batch being written, and its promise (rows written, or -1 when the transaction failed). */
  private inFlight: Promise<number> | null = null;
  private inFlightRows = 0;
  private timer: NodeJS.Timeout | null = null;
  private written = 0;
  private badRows = 0;
  private dropped = 0;
  private flushes = 0;
  private failedFlushes = 0;
  private lastError: string | null = null;
  private closed = false;

  constructor(db: Db, log: Logger, options: UsageLogOptions = {}) {
    this.log = log;
    this.batchSize = options.batchSize ?? 500;
    this.intervalMs = options.intervalMs ?? 1000;
    this.maxPending = options.maxPending ?? 100_000;
    applyMigrations(db, USAGE_MIGRATIONS);
    this.sink = db.memory ? new InlineSink(db) : new ThreadSink(db, options.busyTimeoutMs ?? 5000, log);
    this.flushOnTimer = this.flushOnTimer.bind(this);
  }

  /** Queues one row; never throws, never blocks. */
  push(row: RequestLogRow): void {
    if (this.closed) return;
    const open = this.open();
    open.add(row);
    this.queuedRows++;
    this.queued(open);
  }

  /** Queues rows already in columns (a fleet worker's batch): copied into the open batches, no object per row. */
  pushColumns(rows: RequestLogColumns): void {
    if (this.closed) return;
    let from = 0;
    while (from < rows.length) {
      const open = this.open();
      const n = open.append(rows, from);
      from += n;
      this.queuedRows += n;
      this.queued(open);
    }
  }

  /** The batch taking new rows (a new one when the last is full). */
  private open(): RequestLogBatch {
    const queue = this.queue;
    const last = queue.length === 0 ? null : queue[queue.length - 1]!;
    if (last !== null && !last.full) return last;
    const open = new RequestLogBatch(this.batchSize);
    queue.push(open);
    return open;
  }

  /** After rows went into `open`: the pending bound, then a write (a full batch) or the flush timer. */
  private queued(open: RequestLogBatch): void {
    const queue = this.queue;
    // Beyond maxPending (the database refusing writes for a long time) the oldest whole batch goes.
    while (this.queuedRows > this.maxPending && queue.length > 1) {
      const oldest = queue.shift()!;
      this.queuedRows -= oldest.length;
      this.dropped += oldest.length;
    }
    if (open.full) {
      if (this.inFlight === null) void this.writeNext();
    } else if (this.timer === null) {
      this.timer = setTimeout(this.flushOnTimer, this.intervalMs);
      this.timer.unref();
    }
  }

  private flushOnTimer(): void {
    this.timer = null;
    void this.flush();
  }

  /** Writes every queued row, a batch at a time; resolves with the rows written (it stops at a failed batch). */
  async flush(): Promise<number> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    let total = 0;
    for (;;) {
      if (this.inFlight !== null) {
        const n = await this.inFlight;
        if (n < 0) return total;
        total += n;
        continue;
      }
      if (this.queuedRows === 0) return total;
      void this.writeNext();
    }
  }

  /** Sends the oldest batch to the sink; a full batch behind it is sent as soon as it is written. */
  private writeNext(): Promise<number> {
    const batch = this.queue.shift()!;
    this.queuedRows -= batch.length;
    this.inFlightRows = batch.length;
    const usageLog = this;
    this.inFlight = this.sink.write(batch).then(
      function batchWritten(result: BatchResult): number {
        usageLog.settle();
        usageLog.written += result.written;
        usageLog.flushes++;
        for (const r of result.rejected) usageLog.rejectRow(batch, r.index, r.message);
        if (usageLog.queue.length > 0 && usageLog.queue[0]!.full) void usageLog.writeNext();
        return result.written;
      },
      function batchFailed(err: Error): number {
        usageLog.settle();
        // The database refused the transaction itself (busy, disk full): the batch goes back, oldest first.
        usageLog.queue.unshift(batch);
        usageLog.queuedRows += batch.length;
        usageLog.failedFlushes++;
        usageLog.lastError = err.message;
        usageLog.log.warn(
          { err: err.message, pending: usageLog.queuedRows }, 'request log flush failed; rows kept for the next flush',
        );
        if (!usageLog.closed && usageLog.timer === null) {
          usageLog.timer = setTimeout(usageLog.flushOnTimer, usageLog.intervalMs);
          usageLog.timer.unref();
        }
        return -1;
      },
    );
    return this.inFlight;
  }

  private settle(): void {
    this.inFlight = null;
    this.inFlightRows = 0;
  }

  private rejectRow(batch: RequestLogBatch, index: number, message: string): void {
    this.badRows++;
    this.lastError = message;
    this.log.warn(
      { err: message, ...batch.describe(index) }, 'request log row rejected; the rest of its batch is kept',
    );
  }

  stats(): UsageLogStats {
    return {
      pending: this.queuedRows + this.inFlightRows,
      written: this.written,
      badRows: this.badRows,
      dropped: this.dropped,
      flushes: this.flushes,
      failedFlushes: this.failedFlushes,
      lastError: this.lastError,
      writer: this.sink.kind,
    };
  }

  /** Flushes, stops accepting rows and closes the writer's connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    await this.sink.close();
  }
}
