import type { Statement } from 'better-sqlite3';
import type { RequestRow } from '../contracts/admin-api.js';

export type { RequestRow };
import { applyMigrations, type Db, type Migration } from './database.js';
import { USAGE_MIGRATIONS } from './usage-log.js';

/**
 * Indexes for `GET /requests` filters: each filter column with `ts`, so a filtered page walks one index newest
 * first and stops after `limit` rows (the rowid in every index entry breaks ties in the cursor). `user` and `ts`
 * alone had theirs already.
 */
export const REQUEST_QUERY_MIGRATIONS: readonly Migration[] = [
  {
    id: 'usage/2',
    sql: `CREATE INDEX IF NOT EXISTS request_log_service_ts ON request_log (service, ts);
    CREATE INDEX IF NOT EXISTS request_log_channel_ts ON request_log (channel, ts);
    CREATE INDEX IF NOT EXISTS request_log_model_ts ON request_log (model, ts);
    CREATE INDEX IF NOT EXISTS request_log_status_ts ON request_log (status, ts);`,
  },
];

export interface RequestFilter {
  readonly user?: string;
  readonly service?: string;
  readonly channel?: string;
  readonly model?: string;
  readonly status?: number;
  /** Epoch ms, inclusive. */
  readonly since?: number;
  /** Epoch ms, exclusive. */
  readonly until?: number;
}

export const GROUP_BY = ['user', 'service', 'channel', 'model', 'day'] as const;
export type GroupBy = (typeof GROUP_BY)[number];

export interface SummaryRow {
  readonly key: string | null;
  readonly requests: number;
  readonly errors: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
  readonly avgLatencyMs: number;
}

interface DbRow {
  id: number; ts: number; service: string; user: string | null; channel: string | null; endpoint: string;
  model: string | null; stream: number; status: number; prompt_tokens: number | null; completion_tokens: number | null;
  total_tokens: number | null; latency_ms: number; ttfb_ms: number | null; attempts: number; error: string | null;
  client?: string | null;
}

/**
 * Filter columns, most selective first (many users, a few services and channels, fewer models, a handful of
 * statuses). The first one given drives the index; the others are tested on its rows (`+col` keeps SQLite from
 * picking their index: without statistics it may choose a model index over a user one and scan a fifth of the log).
 */
const FILTER_COLUMNS = ['user', 'channel', 'service', 'model', 'status'] as const;
const GROUP_SQL: Record<GroupBy, string> = {
  user: 'user',
  service: 'service',
  channel: 'channel',
  model: 'model',
  day: "strftime('%Y-%m-%d', ts / 1000, 'unixepoch')",
};

/**
 * Reads of the request log for the admin API: filtered pages newest first with a keyset cursor (`ts`, `id` of the
 * last row), and grouped summaries. Statements are prepared once per filter shape and kept.
 */
export class RequestQuery {
  private readonly db: Db;
  private readonly statements = new Map<string, Statement>();

  /** `migrate: false` on a reading thread's own connection (the main connection applied them at start). */
  constructor(db: Db, migrate = true) {
    this.db = db;
    if (migrate) {
      applyMigrations(db, USAGE_MIGRATIONS);
      applyMigrations(db, REQUEST_QUERY_MIGRATIONS);
    }
  }

  /** One page of rows matching `filter`, newest first, after `cursor` (from the previous page's `nextCursor`). */
  page(
    filter: RequestFilter, limit: number, cursor: { ts: number; id: number } | null,
  ): { items: RequestRow[]; nextCursor: string | null } {
    const where: string[] = [];
    const args: (string | number)[] = [];
    addFilters(filter, where, args);
    if (cursor !== null) {
      where.push('(ts, id) < (?, ?)');
      args.push(cursor.ts, cursor.id);
    }
    const filtered = where.length ? ` WHERE ${where.join(' AND ')}` : '';
    const sql = `SELECT * FROM request_log${filtered} ORDER BY ts DESC, id DESC LIMIT ?`;
    args.push(limit + 1);
    const rows = this.statement(sql).all(...args) as DbRow[];
    const more = rows.length > limit;
    if (more) rows.pop();
    const last = rows[rows.length - 1];
    return {
      items: rows.map(toRow),
      nextCursor: more && last !== undefined ? encodeCursor(last.ts, last.id) : null,
    };
  }

  summary(groupBy: GroupBy, filter: RequestFilter): SummaryRow[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    addFilters(filter, where, args);
    const key = GROUP_SQL[groupBy];
    const sql = `SELECT ${key} AS key, COUNT(*) AS requests, SUM(status >= 400 OR error IS NOT NULL) AS errors,
      COALESCE(SUM(prompt_tokens), 0) AS promptTokens, COALESCE(SUM(completion_tokens), 0) AS completionTokens,
      COALESCE(SUM(total_tokens), 0) AS totalTokens, AVG(latency_ms) AS avgLatencyMs
      FROM request_log${where.length ? ` WHERE ${where.join(' AND ')}` : ''} GROUP BY key ORDER BY key`;
    const rows = this.statement(sql).all(...args) as SummaryRow[];
    return rows.map((r) => ({ ...r, avgLatencyMs: Math.round(r.avgLatencyMs * 100) / 100 }));
  }

  /** The query plan of a page (tests and the bench check that filters use an index). */
  plan(filter: RequestFilter): string {
    const where: string[] = [];
    const args: (string | number)[] = [];
    addFilters(filter, where, args);
    where.push('(ts, id) < (?, ?)');
    args.push(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 10);
    const sql = `EXPLAIN QUERY PLAN SELECT * FROM request_log WHERE ${where.join(' AND ')}
      ORDER BY ts DESC, id DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args) as { detail: string }[]).map((r) => r.detail).join('; ');
  }

  private statement(sql: string): Statement {
    let s = this.statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }
}

function addFilters(filter: RequestFilter, where: string[], args: (string | number)[]): void {
  let indexed = false;
  for (const column of FILTER_COLUMNS) {
    const value = filter[column];
    if (value === undefined) continue;
    where.push(indexed ? `+${column} = ?` : `${column} = ?`);
    indexed = true;
    args.push(value);
  }
  if (filter.since !== undefined) {
    where.push('ts >= ?');
    args.push(filter.since);
  }
  if (filter.until !== undefined) {
    where.push('ts < ?');
    args.push(filter.until);
  }
}

function toRow(r: DbRow): RequestRow {
  return {
    id: r.id,
    ts: new Date(r.ts).toISOString(),
    service: r.service,
    user: r.user,
    channel: r.channel,
    endpoint: r.endpoint,
    model: r.model,
    stream: r.stream === 1,
    status: r.status,
    promptTokens: r.prompt_tokens,
    completionTokens: r.completion_tokens,
    totalTokens: r.total_tokens,
    latencyMs: r.latency_ms,
    ttfbMs: r.ttfb_ms,
    attempts: r.attempts,
    error: r.error,
    client: r.client ?? null,
  };
}

export function encodeCursor(ts: number, id: number): string {
  return Buffer.from(`${ts}:${id}`).toString('base64url');
}

/** null for a cursor that is not one of ours. */
export function decodeCursor(cursor: string): { ts: number; id: number } | null {
  const m = /^(\d{1,16}):(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return m ? { ts: Number(m[1]), id: Number(m[2]) } : null;
}
