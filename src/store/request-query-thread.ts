/**
 * The request-log reader thread: its own read-only SQLite connection to the database file (WAL lets it read while
 * the main connection and the log writer write), answering `GET /requests` pages and `GET /usage/summary` one at a
 * time, so a summary over millions of rows (seconds) never stalls the event loop.
 * Messages in: { id, op: 'page' | 'summary', args } | { close: true }. Out: { id, result } | { id, error }.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { RequestQuery } from './request-query.js';
import type { ReaderRequest } from './request-reader.js';

interface ThreadData {
  readonly file: string;
  readonly busyTimeoutMs: number;
}

const { file, busyTimeoutMs } = workerData as ThreadData;
const db = new Database(file, { readonly: true, fileMustExist: true });
db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
const query = new RequestQuery(db, false);
const port = parentPort!;

port.on('message', function onReaderMessage(message: ReaderRequest | { close: true }) {
  if ('close' in message) {
    db.close();
    port.close();
    return;
  }
  try {
    const result = message.op === 'page'
      ? query.page(message.filter, message.limit, message.cursor)
      : query.summary(message.groupBy, message.filter);
    port.postMessage({ id: message.id, result });
  } catch (err) {
    port.postMessage({ id: message.id, error: (err as Error).message });
  }
});
