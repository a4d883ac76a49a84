/**
 * The candidate measured by bench/store-threads.ts: one thread, one read-write connection, that writes request-log
 * batches and answers summaries in the order they arrive (what a single store thread would do: better-sqlite3 runs
 * a statement to its end, so nothing can interleave with a query on the same thread).
 * Messages in: { id, batch } | { id, summary: filter } | { close: true }. Out: { id }.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { createBatchInsert } from '../../src/store/request-log-insert.js';
import { RequestLogBatch, type RequestLogBatchMessage } from '../../src/store/request-log-batch.js';
import { RequestQuery, type RequestFilter } from '../../src/store/request-query.js';

const db = new Database((workerData as { file: string }).file);
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = NORMAL');
const write = createBatchInsert(db);
const query = new RequestQuery(db, false);
const port = parentPort!;

interface Message {
  readonly id?: number;
  readonly batch?: RequestLogBatchMessage;
  readonly summary?: RequestFilter;
  readonly close?: boolean;
}

port.on('message', function onStoreMessage(message: Message) {
  if (message.close === true) {
    db.close();
    port.close();
    return;
  }
  if (message.batch !== undefined) write(RequestLogBatch.fromMessage(message.batch));
  else query.summary('model', message.summary!);
  port.postMessage({ id: message.id });
});
