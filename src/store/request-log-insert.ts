import type { Db } from './database.js';
import type { RequestLogBatch } from './request-log-batch.js';

/** What one batch transaction did: rows written, and the rows SQLite refused (by index in the batch). */
export interface BatchResult {
  written: number;
  rejected: { index: number; message: string }[];
}

/**
 * The request-log batch insert: one IMMEDIATE transaction per batch. A row SQLite refuses (a constraint, a value it
 * cannot bind) is a statement-level rollback, so it is reported and the others stay; a busy or broken database throws
 * out of the whole transaction so the caller keeps the batch for the next flush.
 */
export function createBatchInsert(db: Db): (batch: RequestLogBatch) => BatchResult {
  const insert = db.prepare<unknown[]>(
    `INSERT INTO request_log (ts, service, user, channel, endpoint, model, stream, status, prompt_tokens, completion_tokens,
      total_tokens, latency_ms, ttfb_ms, attempts, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const params: unknown[] = new Array(15);
  return db.transaction(function writeRequestLogBatch(batch: RequestLogBatch): BatchResult {
    const result: BatchResult = { written: 0, rejected: [] };
    for (let i = 0; i < batch.length; i++) {
      try {
        insert.run(batch.params(i, params));
        result.written++;
      } catch (err) {
        if (!isRowProblem(err)) throw err;
        result.rejected.push({ index: i, message: (err as Error).message });
      }
    }
    return result;
  }).immediate;
}

function isRowProblem(err: unknown): boolean {
  if (err instanceof TypeError || err instanceof RangeError) return true;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH' || code === 'SQLITE_TOOBIG');
}
