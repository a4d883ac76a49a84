import type { Statement } from 'better-sqlite3';
import type { Db } from './database.js';
import { STRING_COLUMNS, type RequestLogBatch } from './request-log-batch.js';

/** What one batch transaction did: rows written, and the rows SQLite refused (by index in the batch). */
export interface BatchResult {
  written: number;
  rejected: { index: number; message: string }[];
}

const COLUMNS = 23;
/** Rows per multi-row INSERT: one statement run binds 50 rows, a third of the per-row cost of single inserts. */
const CHUNK = 50;
const INSERT = `INSERT INTO request_log (ts, service, user, channel, endpoint, model, stream, status, prompt_tokens,
  completion_tokens, total_tokens, latency_ms, ttfb_ms, attempts, error, input_tokens, cache_read_tokens,
  cache_write_tokens, output_tokens, reasoning_tokens, cost_micros, estimated, client) VALUES `;
/** The string columns' names in the insert (index = bit in a `shared` mask), each a named parameter when shared. */
const STRING_PARAMS = ['service', 'user', 'channel', 'endpoint', 'model', 'error', 'client'];

/** One VALUES row: `?` per column, or `@name` for the string columns in `shared`. */
function rowSql(shared: number): string {
  const cell = (c: number): string => ((shared & (1 << c)) !== 0 ? `@${STRING_PARAMS[c]}` : '?');
  const cells = `${cell(0)}, ${cell(1)}, ${cell(2)}, ${cell(3)}, ${cell(4)}`;
  return `(?, ${cells}, ?, ?, ?, ?, ?, ?, ?, ?, ${cell(5)}, ?, ?, ?, ?, ?, ?, ?, ${cell(6)})`;
}

/** A 50-row insert whose `shared` string columns are bound once, from `values`, for all its rows. */
interface ChunkInsert {
  readonly statement: Statement<unknown[]>;
  /** The run's arguments: `values` first when a column is shared, then each row's own parameters. */
  readonly args: unknown[];
  readonly values: Record<string, string | null> | null;
}

function prepareChunk(db: Db, shared: number): ChunkInsert {
  const names = STRING_PARAMS.filter((_, c) => (shared & (1 << c)) !== 0);
  const values = names.length === 0 ? null : Object.fromEntries(names.map((name) => [name, null]));
  const sharedCount = names.length;
  return {
    statement: db.prepare<unknown[]>(INSERT + new Array(CHUNK).fill(rowSql(shared)).join(', ')),
    args: new Array((values === null ? 0 : 1) + CHUNK * (COLUMNS - sharedCount)),
    values,
  };
}

/**
 * The request-log batch insert: one IMMEDIATE transaction per batch, rows inserted 50 to a statement. A string
 * column that holds one value in all 50 rows (the service, most often the endpoint, model, channel, user, and a null
 * error) is bound once for the statement: one statement per set of such columns, prepared when first needed.
 * Binding a string costs a UTF-8 conversion and a copy; skipping five takes a third off an insert's CPU per row
 * (measured alone). Parameters go as arguments, not as one array: better-sqlite3 then takes each from the call's
 * arguments instead of looking it up in the array. A statement SQLite refuses because of a row (a constraint, a value
 * it cannot bind) is rolled back alone, and its 50 rows are retried one by one so only the bad ones are reported; a
 * busy or broken database throws out of the whole transaction so the caller keeps the batch for the next flush.
 */
export function createBatchInsert(db: Db): (batch: RequestLogBatch) => BatchResult {
  const one = db.prepare<unknown[]>(INSERT + rowSql(0));
  const oneArgs: unknown[] = new Array(COLUMNS);
  const chunks: (ChunkInsert | undefined)[] = new Array(1 << STRING_COLUMNS);

  function insertOneByOne(batch: RequestLogBatch, from: number, to: number, result: BatchResult): void {
    for (let i = from; i < to; i++) {
      batch.params(i, oneArgs, 0, 0);
      try {
        one.run(...oneArgs);
        result.written++;
      } catch (err) {
        if (!isRowProblem(err)) throw err;
        result.rejected.push({ index: i, message: (err as Error).message });
      }
    }
  }

  function insertChunk(batch: RequestLogBatch, from: number): void {
    const shared = batch.sharedColumns(from, from + CHUNK);
    const chunk = (chunks[shared] ??= prepareChunk(db, shared));
    const args = chunk.args;
    let at = 0;
    if (chunk.values !== null) {
      for (let c = 0; c < STRING_COLUMNS; c++) {
        if ((shared & (1 << c)) !== 0) chunk.values[STRING_PARAMS[c]!] = batch.stringAt(from, c);
      }
      args[at++] = chunk.values;
    }
    for (let r = 0; r < CHUNK; r++) at = batch.params(from + r, args, at, shared);
    chunk.statement.run(...args);
  }

  return db.transaction(function writeRequestLogBatch(batch: RequestLogBatch): BatchResult {
    const result: BatchResult = { written: 0, rejected: [] };
    let i = 0;
    for (; i + CHUNK <= batch.length; i += CHUNK) {
      try {
        insertChunk(batch, i);
        result.written += CHUNK;
      } catch (err) {
        if (!isRowProblem(err)) throw err;
        insertOneByOne(batch, i, i + CHUNK, result);
      }
    }
    insertOneByOne(batch, i, batch.length, result);
    return result;
  }).immediate;
}

function isRowProblem(err: unknown): boolean {
  if (err instanceof TypeError || err instanceof RangeError) return true;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' &&
    (code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH' || code === 'SQLITE_TOOBIG');
}
