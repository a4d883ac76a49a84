import type { Statement } from 'better-sqlite3';
import { applyMigrations, type Db, type Migration } from './database.js';
import type { LedgerRow } from './ledger.js';

/**
 * Pushed reports: deltas waiting to be reported (added in the ledger's own transaction, so what is reported is
 * exactly what the ledger got), and batches cut from them, each with its sequence number, until acknowledged.
 */
export const REPORT_MIGRATIONS: readonly Migration[] = [
  {
    id: 'report/1',
    sql: `CREATE TABLE report_pending (
      kind TEXT NOT NULL,
      subject TEXT NOT NULL,
      bytes_in INTEGER NOT NULL DEFAULT 0,
      bytes_out INTEGER NOT NULL DEFAULT 0,
      connections INTEGER NOT NULL DEFAULT 0,
      requests INTEGER NOT NULL DEFAULT 0,
      tokens INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (kind, subject)
    ) WITHOUT ROWID;
    CREATE TABLE report_batches (
      seq INTEGER PRIMARY KEY,
      created_at INTEGER NOT NULL,
      since INTEGER NOT NULL,
      rows TEXT NOT NULL
    );
    CREATE TABLE report_state (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      last_seq INTEGER NOT NULL,
      last_cut INTEGER NOT NULL
    );
    INSERT INTO report_state (id, last_seq, last_cut) VALUES (1, 0, 0);`,
  },
];

export interface ReportRow {
  readonly kind: 'user' | 'service';
  readonly subject: string;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly connections: number;
  readonly requests: number;
  readonly tokens: number;
}

export interface ReportBatch {
  readonly seq: number;
  /** Epoch ms of the previous cut (the batch covers deltas written from then to `createdAt`). */
  readonly since: number;
  readonly createdAt: number;
  readonly rows: readonly ReportRow[];
}

interface PendingRow {
  kind: 'user' | 'service';
  subject: string;
  bytes_in: number;
  bytes_out: number;
  connections: number;
  requests: number;
  tokens: number;
}

export class ReportOutbox {
  private readonly addRow: Statement;
  private readonly cutTx: (now: number) => ReportBatch | null;
  private readonly selectOldest: Statement;
  private readonly deleteBatch: Statement;
  private readonly countBatches: Statement;
  private readonly countPending: Statement;

  constructor(db: Db) {
    applyMigrations(db, REPORT_MIGRATIONS);
    this.addRow = db.prepare(`INSERT INTO report_pending
      (kind, subject, bytes_in, bytes_out, connections, requests, tokens) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (kind, subject) DO UPDATE SET
      bytes_in = bytes_in + excluded.bytes_in, bytes_out = bytes_out + excluded.bytes_out,
      connections = connections + excluded.connections, requests = requests + excluded.requests,
      tokens = tokens + excluded.tokens`);
    const selectPending = db.prepare('SELECT * FROM report_pending ORDER BY kind, subject');
    const clearPending = db.prepare('DELETE FROM report_pending');
    const state = db.prepare('SELECT last_seq, last_cut FROM report_state WHERE id = 1');
    const setState = db.prepare('UPDATE report_state SET last_seq = ?, last_cut = ? WHERE id = 1');
    const insertBatch = db.prepare('INSERT INTO report_batches (seq, created_at, since, rows) VALUES (?, ?, ?, ?)');
    this.selectOldest = db.prepare('SELECT seq, created_at, since, rows FROM report_batches ORDER BY seq LIMIT 1');
    this.deleteBatch = db.prepare('DELETE FROM report_batches WHERE seq = ?');
    this.countBatches = db.prepare('SELECT COUNT(*) AS n FROM report_batches');
    this.countPending = db.prepare('SELECT COUNT(*) AS n FROM report_pending');
    this.cutTx = db.transaction((now: number): ReportBatch | null => {
      const pending = (selectPending.all() as PendingRow[]).filter(
        (r) => r.bytes_in !== 0 || r.bytes_out !== 0 || r.connections !== 0 || r.requests !== 0 || r.tokens !== 0,
      );
      clearPending.run();
      if (pending.length === 0) return null;
      const { last_seq: lastSeq, last_cut: lastCut } = state.get() as { last_seq: number; last_cut: number };
      const rows: ReportRow[] = pending.map((r) => ({
        kind: r.kind, subject: r.subject, bytesIn: r.bytes_in, bytesOut: r.bytes_out,
        connections: r.connections, requests: r.requests, tokens: r.tokens,
      }));
      const seq = lastSeq + 1;
      insertBatch.run(seq, now, lastCut, JSON.stringify(rows));
      setState.run(seq, now);
      return { seq, since: lastCut, createdAt: now, rows };
    });
  }

  /** Called inside the ledger's transaction for every row it writes. */
  add(row: LedgerRow): void {
    const c = row.counts;
    this.addRow.run(row.kind, row.subject, c.bytesIn, c.bytesOut, c.connections, c.requests, c.tokens);
  }

  /** The oldest unacknowledged batch, or null. */
  oldest(): ReportBatch | null {
    const row = this.selectOldest.get() as { seq: number; created_at: number; since: number; rows: string } | undefined;
    if (row === undefined) return null;
    return { seq: row.seq, createdAt: row.created_at, since: row.since, rows: JSON.parse(row.rows) as ReportRow[] };
  }

  /** Turns everything pending into the next batch (one sequence number), or null when nothing is pending. */
  cut(now: number): ReportBatch | null {
    return this.cutTx(now);
  }

  ack(seq: number): void {
    this.deleteBatch.run(seq);
  }

  stats(): { batches: number; pendingSubjects: number } {
    return {
      batches: (this.countBatches.get() as { n: number }).n,
      pendingSubjects: (this.countPending.get() as { n: number }).n,
    };
  }
}
