import type { Statement } from 'better-sqlite3';
import type { CountersBody } from '../contracts/admin-api.js';
import { applyMigrations, type Db, type Migration } from './database.js';

/** Durable usage totals per user/service and period; one row per (kind, subject, period). */
export const LEDGER_MIGRATIONS: readonly Migration[] = [
  {
    id: 'accounting/1',
    sql: `CREATE TABLE accounting_usage (
      kind TEXT NOT NULL,
      subject TEXT NOT NULL,
      period TEXT NOT NULL,
      bytes_in INTEGER NOT NULL DEFAULT 0,
      bytes_out INTEGER NOT NULL DEFAULT 0,
      connections INTEGER NOT NULL DEFAULT 0,
      requests INTEGER NOT NULL DEFAULT 0,
      tokens INTEGER NOT NULL DEFAULT 0,
      updated_at INTEGER NOT NULL,
      PRIMARY KEY (kind, subject, period)
    ) WITHOUT ROWID`,
  },
  {
    // Gateway token classes and cost; old rows read 0.
    id: 'accounting/2',
    sql: `ALTER TABLE accounting_usage ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE accounting_usage ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE accounting_usage ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE accounting_usage ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE accounting_usage ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE accounting_usage ADD COLUMN cost_micros INTEGER NOT NULL DEFAULT 0;`,
  },
];

/** How long a ledger write waits for a lock held by another connection before it fails (and is retried later). */
export const LEDGER_BUSY_MS = 100;

/** One delta to add to one row. */
export interface LedgerRow {
  readonly kind: string;
  readonly subject: string;
  readonly period: string;
  readonly counts: CountersBody;
}

interface UsageRow {
  bytes_in: number;
  bytes_out: number;
  connections: number;
  requests: number;
  tokens: number;
  input_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  cost_micros: number;
}

/**
 * The SQLite ledger of usage totals. Deltas are added (never overwritten), many rows in one transaction, so a flush
 * either lands whole or not at all and the caller keeps its deltas for the next try.
 */
export class Ledger {
  private readonly db: Db;
  private readonly upsert: Statement;
  private readonly select: Statement;
  private readonly writeAll: (rows: readonly LedgerRow[], now: number, report: boolean) => void;
  /** The connection's own busy timeout, restored after each write. */
  private readonly busyTimeoutMs: number;
  /** Pushed reports: every delta written is also added here, in the same transaction. */
  private outbox: { add(row: LedgerRow): void } | null = null;

  constructor(db: Db) {
    this.db = db;
    this.busyTimeoutMs = Number(db.pragma('busy_timeout', { simple: true }));
    applyMigrations(db, LEDGER_MIGRATIONS);
    this.upsert = db.prepare(`INSERT INTO accounting_usage
      (kind, subject, period, bytes_in, bytes_out, connections, requests, tokens, input_tokens, cache_read_tokens,
       cache_write_tokens, output_tokens, reasoning_tokens, cost_micros, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (kind, subject, period) DO UPDATE SET
        bytes_in = bytes_in + excluded.bytes_in,
        bytes_out = bytes_out + excluded.bytes_out,
        connections = connections + excluded.connections,
        requests = requests + excluded.requests,
        tokens = tokens + excluded.tokens,
        input_tokens = input_tokens + excluded.input_tokens,
        cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
        cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
        output_tokens = output_tokens + excluded.output_tokens,
        reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
        cost_micros = cost_micros + excluded.cost_micros,
        updated_at = excluded.updated_at`);
    this.select = db.prepare(
      `SELECT bytes_in, bytes_out, connections, requests, tokens, input_tokens, cache_read_tokens, cache_write_tokens,
        output_tokens, reasoning_tokens,
          cost_micros FROM accounting_usage WHERE kind = ? AND subject = ? AND period = ?`,
    );
    const upsert = this.upsert;
    const ledger = this;
    this.writeAll = db.transaction(function writeLedgerRows(rows: readonly LedgerRow[], now: number, report: boolean) {
      const outbox = report ? ledger.outbox : null;
      for (const row of rows) {
        const c = row.counts;
        upsert.run(
          row.kind, row.subject, row.period, c.bytesIn, c.bytesOut, c.connections, c.requests, c.tokens, c.inputTokens,
          c.cacheReadTokens, c.cacheWriteTokens, c.outputTokens, c.reasoningTokens, c.costMicros, now,
        );
        if (outbox !== null) outbox.add(row);
      }
    });
  }

  /**
   * Adds every row's delta in one transaction; throws, having written nothing, when SQLite fails. A locked database
   * fails fast (LEDGER_BUSY_MS) instead of waiting out the connection's busy timeout on the event loop: the caller
   * keeps the deltas and retries later.
   */
  write(rows: readonly LedgerRow[], now: number, report = true): void {
    this.db.pragma(`busy_timeout = ${LEDGER_BUSY_MS}`);
    try {
      this.writeAll(rows, now, report);
    } finally {
      this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
    }
  }

  /** The totals of one row, or null when nothing was ever written to it. Called at start and in tests. */
  read(kind: string, subject: string, period: string): CountersBody | null {
    const row = this.select.get(kind, subject, period) as UsageRow | undefined;
    if (row === undefined) return null;
    return {
      bytesIn: row.bytes_in, bytesOut: row.bytes_out, connections: row.connections, requests: row.requests,
      tokens: row.tokens, inputTokens: row.input_tokens, cacheReadTokens: row.cache_read_tokens,
      cacheWriteTokens: row.cache_write_tokens, outputTokens: row.output_tokens, reasoningTokens: row.reasoning_tokens,
      costMicros: row.cost_micros,
    };
  }

  /** Starts (or stops, with null) adding every written delta to the report outbox. */
  setOutbox(outbox: { add(row: LedgerRow): void } | null): void {
    this.outbox = outbox;
  }

  get open(): boolean {
    return this.db.open;
  }
}
