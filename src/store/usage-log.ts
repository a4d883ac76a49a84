import type { Logger } from '../log.js';
import { applyMigrations, type Db, type Migration } from './database.js';

/** One finished gateway request, as written to `request_log`. Times in ms; tokens null when the upstream said none. */
export interface RequestLogRow {
  ts: number;
  service: string;
  user: string | null;
  channel: string | null;
  endpoint: string;
  model: string | null;
  stream: boolean;
  status: number;
  promptTokens: number | null;
  completionTokens: number | null;
  totalTokens: number | null;
  latencyMs: number;
  ttfbMs: number | null;
  attempts: number;
  error: string | null;
}

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
];

export interface UsageLogOptions {
  /** Flush when this many rows are pending (default 500). */
  readonly batchSize?: number;
  /** Flush at least this often while rows are pending (default 1 s). */
  readonly intervalMs?: number;
  /** Rows kept while the database refuses writes; the oldest are dropped (and counted) beyond it. */
  readonly maxPending?: number;
}

export interface UsageLogStats {
  readonly pending: number;
  readonly written: number;
  readonly badRows: number;
  readonly dropped: number;
  readonly flushes: number;
  readonly failedFlushes: number;
  readonly lastError: string | null;
}

/**
 * The batched request-log writer: rows queue in memory and go to SQLite in one transaction per flush (500 rows or
 * 1 s, whichever comes first). A row SQLite refuses is isolated and counted, never dropping its batch; a flush that
 * fails as a whole keeps its rows for the next one. `flush()` runs on reload and on shutdown.
 */
export class UsageLog {
  private readonly db: Db;
  private readonly log: Logger;
  private readonly batchSize: number;
  private readonly intervalMs: number;
  private readonly maxPending: number;
  private readonly insert: import('better-sqlite3').Statement<unknown[]>;
  private readonly writeBatch: (rows: readonly RequestLogRow[]) => number;
  private pending: RequestLogRow[] = [];
  private timer: NodeJS.Timeout | null = null;
  private written = 0;
  private badRows = 0;
  private dropped = 0;
  private flushes = 0;
  private failedFlushes = 0;
  private lastError: string | null = null;
  private closed = false;

  constructor(db: Db, log: Logger, options: UsageLogOptions = {}) {
    this.db = db;
    this.log = log;
    this.batchSize = options.batchSize ?? 500;
    this.intervalMs = options.intervalMs ?? 1000;
    this.maxPending = options.maxPending ?? 100_000;
    applyMigrations(db, USAGE_MIGRATIONS);
    this.insert = db.prepare<unknown[]>(
      `INSERT INTO request_log (ts, service, user, channel, endpoint, model, stream, status, prompt_tokens, completion_tokens,
        total_tokens, latency_ms, ttfb_ms, attempts, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insert = this.insert;
    const writer = this;
    // One transaction per batch; a row that fails is a statement-level rollback in SQLite, so the others stay.
    this.writeBatch = db.transaction(function writeRequestLogBatch(rows: readonly RequestLogRow[]): number {
      let ok = 0;
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        try {
          insert.run(
            r.ts, r.service, r.user, r.channel, r.endpoint, r.model, r.stream ? 1 : 0, r.status, r.promptTokens,
            r.completionTokens, r.totalTokens, r.latencyMs, r.ttfbMs, r.attempts, r.error,
          );
          ok++;
        } catch (err) {
          // Only a problem with this row (constraint, a value SQLite cannot bind) is isolated; a busy or broken
          // database fails the whole transaction so the batch is kept for the next flush.
          if (!isRowProblem(err)) throw err;
          writer.rejectRow(r, err as Error);
        }
      }
      return ok;
    }).immediate;
    this.flushOnTimer = this.flushOnTimer.bind(this);
  }

  /** Queues one row; never throws, never blocks. */
  push(row: RequestLogRow): void {
    if (this.closed) return;
    this.pending.push(row);
    if (this.pending.length > this.maxPending) {
      const over = this.pending.length - this.maxPending;
      this.pending.splice(0, over);
      this.dropped += over;
    }
    if (this.pending.length >= this.batchSize) this.flush();
    else if (this.timer === null) {
      this.timer = setTimeout(this.flushOnTimer, this.intervalMs);
      this.timer.unref();
    }
  }

  private flushOnTimer(): void {
    this.timer = null;
    this.flush();
  }

  /** Writes every pending row now, in batches of `batchSize`, one transaction each. Returns the rows written. */
  flush(): number {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    let total = 0;
    while (this.pending.length > 0) {
      const batch = this.pending.length <= this.batchSize ? this.pending : this.pending.slice(0, this.batchSize);
      try {
        const ok = this.writeBatch(batch);
        total += ok;
        this.written += ok;
        this.flushes++;
      } catch (err) {
        // The database refused the transaction itself (busy, disk full): keep the rows for the next flush.
        this.failedFlushes++;
        this.lastError = (err as Error).message;
        this.log.warn({ err: this.lastError, pending: this.pending.length }, 'request log flush failed; rows kept for the next flush');
        if (!this.closed && this.timer === null) {
          this.timer = setTimeout(this.flushOnTimer, this.intervalMs);
          this.timer.unref();
        }
        return total;
      }
      if (batch === this.pending) this.pending = [];
      else this.pending.splice(0, batch.length);
    }
    return total;
  }

  private rejectRow(row: RequestLogRow, err: Error): void {
    this.badRows++;
    this.lastError = err.message;
    this.log.warn({ err: err.message, service: row.service, channel: row.channel, status: row.status }, 'request log row rejected; the rest of its batch is kept');
  }

  stats(): UsageLogStats {
    return {
      pending: this.pending.length,
      written: this.written,
      badRows: this.badRows,
      dropped: this.dropped,
      flushes: this.flushes,
      failedFlushes: this.failedFlushes,
      lastError: this.lastError,
    };
  }

  /** Flushes and stops accepting rows. */
  close(): void {
    this.flush();
    this.closed = true;
  }
}

function isRowProblem(err: unknown): boolean {
  if (err instanceof TypeError || err instanceof RangeError) return true;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH' || code === 'SQLITE_TOOBIG');
}
