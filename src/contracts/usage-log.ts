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

/**
 * Request-log rows in columns (store/request-log-batch.ts's layout): per row 12 numbers and 11 ints, string columns
 * as indexes into `strings`. How rows cross threads and processes without an object per row.
 */
export interface RequestLogColumns {
  readonly length: number;
  readonly numbers: Float64Array;
  readonly ints: Int32Array;
  readonly strings: string[];
}

/** Where a gateway service writes its request-log rows (the store's batched writer implements it). */
export interface UsageLog {
  /** Queues one row; never blocks and never throws (the writer batches and counts failures). */
  push(row: RequestLogRow): void;
  /** Queues rows already in columns (a fleet worker's batch), as push() would each of them. */
  pushColumns(rows: RequestLogColumns): void;
  stats(): UsageLogStats;
}
