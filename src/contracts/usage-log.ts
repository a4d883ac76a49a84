import type { RequestLogRow } from './records.js';

export interface UsageLogStats {
  readonly pending: number;
  readonly written: number;
  readonly badRows: number;
  readonly dropped: number;
  readonly flushes: number;
  readonly failedFlushes: number;
  readonly lastError: string | null;
  /** `thread`: batches are written by the request-log thread; `inline`: on the main thread. */
  readonly writer: 'thread' | 'inline';
}

/** Where a gateway service writes its request-log rows (the store's batched writer implements it). */
export interface UsageLog {
  /** Queues one row; never blocks and never throws (the writer batches and counts failures). */
  push(row: RequestLogRow): void;
  stats(): UsageLogStats;
}
