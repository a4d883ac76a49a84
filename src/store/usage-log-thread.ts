/**
 * The request-log writer thread: its own SQLite connection to the gateway's database file, one transaction per batch
 * it is sent. SQLite's insert work (about 3 µs a row with the log's two indexes) stays off the event loop, and so does
 * the ~1.5 ms stall of a 500-row transaction that would otherwise land in the gateway's tail latency.
 * Messages in: { batch: RequestLogBatchMessage } | { close: true }. Out: { result } | { error } per batch, in order.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { createBatchInsert } from './request-log-insert.js';
import { RequestLogBatch, type RequestLogBatchMessage } from './request-log-batch.js';

interface ThreadData {
  readonly file: string;
  readonly busyTimeoutMs: number;
}

const { file, busyTimeoutMs } = workerData as ThreadData;
const db = new Database(file);
// The busy timeout first: the main connection may hold the write lock right now. WAL mode is already set on the file.
db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
db.pragma('synchronous = NORMAL');
const writeBatch = createBatchInsert(db);
const port = parentPort!;

port.on('message', function onWriterMessage(message: { batch?: RequestLogBatchMessage; close?: boolean }) {
  if (message.close === true) {
    db.close();
    port.close();
    return;
  }
  try {
    port.postMessage({ result: writeBatch(RequestLogBatch.fromMessage(message.batch!)) });
  } catch (err) {
    port.postMessage({ error: (err as Error).message });
  }
});
