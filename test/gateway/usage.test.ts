import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import { openDatabase, type Db } from '../../src/store/database.js';
import type { RequestLogRow } from '../../src/contracts/records.js';
import { UsageLog } from '../../src/store/usage-log.js';
import { RequestLogBatch } from '../../src/store/request-log-batch.js';
import type { RequestLogColumns } from '../../src/contracts/usage-log.js';
import { usageGateway, withGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';
import { chat, messages } from '../helpers/llm.js';
import { eventually } from '../helpers/wait.js';

interface Row {
  user: string | null; channel: string | null; endpoint: string; model: string | null; stream: number; status: number;
  prompt_tokens: number | null; completion_tokens: number | null; total_tokens: number | null; latency_ms: number;
  ttfb_ms: number | null;
  attempts: number; error: string | null;
}

describe('gateway: usage rows in SQLite and the per-user usage hook', () => {
  const gw = withGateway(usageGateway({ sqlite: true }));
  const records = gw.usage;

  function rows(): Row[] {
    const db = new Database(gw.dbFile!, { readonly: true });
    try {
      return db.prepare('SELECT * FROM request_log ORDER BY id').all() as Row[];
    } finally {
      db.close();
    }
  }

  it('tokens from JSON usage, SSE final events and converted streams; '
    + 'user, channel, status, latency, TTFB', async () => {
    const url = `${gw.url}/v1/chat/completions`;
    assert.equal((await post(url, chat('gpt-4o'), { authorization: 'Bearer ka' })).status, 200);
    assert.equal(
      (await post(`${gw.url}/v1/messages`, messages('claude-3', { stream: true }), { 'x-api-key': 'kb' })).status, 200,
    );
    const withUsage = chat('gpt-4o', { stream: true, stream_options: { include_usage: true } });
    assert.equal((await post(url, withUsage, { authorization: 'Bearer ka' })).status, 200);
    assert.equal((await post(url, chat('claude-3', { stream: true }), { authorization: 'Bearer kb' })).status, 200);
    assert.equal((await post(url, '{"model":', { authorization: 'Bearer ka' })).status, 400);
    // A reload flushes the writer: the rows are in the file before the 1 s timer.
    await gw.reload();
    const r = rows();
    assert.equal(r.length, 5);
    const columns = (x: Row): unknown[] =>
      [x.user, x.channel, x.endpoint, x.stream, x.status, x.prompt_tokens, x.completion_tokens, x.total_tokens];
    assert.deepEqual(r.map(columns), [
      ['alice', 'oa', '/v1/chat/completions', 0, 200, 21, 9, 30],
      ['bob', 'an', '/v1/messages', 1, 200, 13, 5, 18],
      ['alice', 'oa', '/v1/chat/completions', 1, 200, 21, 9, 30],
      ['bob', 'an', '/v1/chat/completions', 1, 200, 13, 5, 18],
      ['alice', null, '/v1/chat/completions', 0, 400, null, null, null],
    ]);
    assert.equal(r[4]!.error, 'TG_ERR_BAD_REQUEST_BODY');
    for (const x of r.slice(0, 4)) {
      assert.ok(x.latency_ms >= 0 && x.ttfb_ms !== null && x.ttfb_ms <= x.latency_ms);
      assert.equal(x.attempts, 1);
    }
    // The hook saw the same rows, with users and tokens for accounting.
    assert.deepEqual(
      records.map((x) => [x.user, x.totalTokens]),
      [['alice', 30], ['bob', 18], ['alice', 30], ['bob', 18], ['alice', null]],
    );
  });

  it('rows still pending are written on shutdown', async () => {
    assert.equal(
      (await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'), { authorization: 'Bearer kb' })).status, 200,
    );
    const file = gw.dbFile!;
    await gw.runtime.shutdown();
    const db = new Database(file, { readonly: true });
    const last = db.prepare('SELECT user, total_tokens FROM request_log ORDER BY id DESC LIMIT 1')
      .get() as { user: string; total_tokens: number };
    db.close();
    assert.deepEqual(last, { user: 'bob', total_tokens: 30 });
  });
});

describe('store: the batched request-log writer', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tidegate-usage-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const row = (i: number, extra: Partial<RequestLogRow> = {}): RequestLogRow => ({
    ts: 1000 + i, service: 'llm', user: 'u', channel: 'c', endpoint: '/v1/chat/completions', model: 'm', stream: false,
    status: 200,
    promptTokens: 1, completionTokens: 2, totalTokens: 3, inputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0,
    outputTokens: 2, reasoningTokens: 0, costMicros: 0, estimated: false, bytesIn: 10, bytesOut: 20,
    latencyMs: 1.5, ttfbMs: 1, attempts: 1, error: null, client: null, ...extra,
  });

  it('a bad row is isolated: the rest of its batch is written', async () => {
    const db = await openDatabase(join(dir, 'a.db'));
    const log = new UsageLog(db, createLogger('silent'));
    log.push(row(1));
    log.push(row(2, { promptTokens: -5 }));
    log.push(row(3, { status: 5000 }));
    log.push(row(4));
    assert.equal(await log.flush(), 2);
    assert.equal(log.stats().writer, 'thread');
    assert.deepEqual(writtenTs(db), [1001, 1004]);
    assert.equal(log.stats().badRows, 2);
    assert.equal(log.stats().pending, 0);
    await log.close();
    db.close();
  });

  it('a bad row inside a 50-row insert is isolated too, and the order of the rest is kept', async () => {
    const db = await openDatabase(join(dir, 'f.db'));
    const log = new UsageLog(db, createLogger('silent'), { batchSize: 500, intervalMs: 60_000 });
    for (let i = 0; i < 120; i++) log.push(i === 7 || i === 60 ? row(i, { totalTokens: -1 }) : row(i));
    assert.equal(await log.flush(), 118);
    const ts = writtenTs(db).map((t) => t - 1000);
    assert.deepEqual(ts, Array.from({ length: 120 }, (_, i) => i).filter((i) => i !== 7 && i !== 60));
    assert.equal(log.stats().badRows, 2);
    await log.close();
    db.close();
  });

  it('every column reads back as pushed, whether a 50-row insert shares its strings across rows or not', async () => {
    const db = await openDatabase(join(dir, 'g.db'));
    const log = new UsageLog(db, createLogger('silent'), { batchSize: 500, intervalMs: 60_000 });
    const rows: RequestLogRow[] = [];
    for (let i = 0; i < 207; i++) {
      // Rows 0-49 repeat every string; 50-99 vary the user and model; 100-149 vary the error and channel, with
      // nulls; 150-199 share the strings again but other ones; the last 7 are inserted one by one.
      const extra: Partial<RequestLogRow> = i < 50 ? {}
        : i < 100 ? { user: i % 3 === 0 ? null : `user-${i % 4}`, model: i % 5 === 0 ? null : `m-${i % 2}` }
        : i < 150 ? {
          error: i % 4 === 0 ? 'TG_ERR_UPSTREAM_TIMEOUT' : null, status: i % 4 === 0 ? 504 : 200,
          channel: i % 7 === 0 ? null : 'c2',
        }
        : {
          service: 'other', user: null, channel: 'ç-channel', endpoint: '/v1/messages', model: 'claude-é', stream: true,
          promptTokens: null, completionTokens: null, totalTokens: null, ttfbMs: null, error: 'TG_ERR_CLIENT_CLOSED',
          status: 499,
        };
      rows.push(row(i, extra));
    }
    for (const r of rows) log.push(r);
    assert.equal(await log.flush(), 207);
    const read = db.prepare(
      `SELECT ts, service, user, channel, endpoint, model, stream, status, prompt_tokens, completion_tokens,
      total_tokens, latency_ms, ttfb_ms, attempts, error FROM request_log ORDER BY id`,
    ).all();
    assert.deepEqual(read, rows.map((r) => ({
      ts: r.ts, service: r.service, user: r.user, channel: r.channel, endpoint: r.endpoint, model: r.model,
      stream: r.stream ? 1 : 0, status: r.status, prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens,
      total_tokens: r.totalTokens,
      latency_ms: r.latencyMs, ttfb_ms: r.ttfbMs, attempts: r.attempts, error: r.error,
    })));
    await log.close();
    db.close();
  });

  it('rows pushed in columns (a fleet worker\'s batches, through v8 serialization) read back as pushed', async () => {
    const db = await openDatabase(join(dir, 'h.db'));
    // Batches of 50 here and of 70 in the "worker": every copied batch straddles two of the writer's batches.
    const log = new UsageLog(db, createLogger('silent'), { batchSize: 50, intervalMs: 60_000 });
    const rows: RequestLogRow[] = [];
    for (let i = 0; i < 230; i++) {
      const extra: Partial<RequestLogRow> = i % 3 === 0 ? { user: null, model: `m-${i % 4}`, error: 'TG_ERR_X' }
        : i % 3 === 1 ? { service: 'other', channel: null, client: '127.0.0.1', stream: true, ttfbMs: null }
        : { user: `user-${i % 5}`, costMicros: null, status: 502 };
      rows.push(row(i, extra));
    }
    const worker = new RequestLogBatch(70);
    /** The rows in the order the log got them. */
    const pushed: RequestLogRow[] = [];
    let held: RequestLogRow[] = [];
    for (let i = 0; i < rows.length; i++) {
      if (i % 45 === 44) {
        // A row the log gets on its own between the worker's batches.
        log.push(rows[i]!);
        pushed.push(rows[i]!);
        continue;
      }
      worker.add(rows[i]!);
      held.push(rows[i]!);
      if (worker.full || i === rows.length - 1) {
        log.pushColumns(deserialize(serialize(worker.toMessage())) as RequestLogColumns);
        worker.clear();
        pushed.push(...held);
        held = [];
      }
    }
    assert.equal(await log.flush(), 230);
    const read = db.prepare(
      `SELECT ts, service, user, channel, model, stream, status, ttfb_ms, error, cost_micros, client
      FROM request_log ORDER BY id`,
    ).all();
    assert.deepEqual(read, pushed.map((r) => ({
      ts: r.ts, service: r.service, user: r.user, channel: r.channel, model: r.model, stream: r.stream ? 1 : 0,
      status: r.status, ttfb_ms: r.ttfbMs, error: r.error, cost_micros: r.costMicros, client: r.client,
    })));
    await log.close();
    db.close();
  });

  it('flushes at 500 rows at once, one transaction per batch, and on the timer otherwise', async () => {
    const db = await openDatabase(join(dir, 'b.db'));
    const log = new UsageLog(db, createLogger('silent'), { batchSize: 500, intervalMs: 50 });
    for (let i = 0; i < 499; i++) log.push(row(i));
    assert.equal(log.stats().written, 0);
    log.push(row(499));
    assert.equal(log.stats().pending, 500, 'the 500th row sends the batch to the writer thread');
    await eventually(() => log.stats().written === 500, 5000, 'the 500-row batch');
    assert.equal(log.stats().flushes, 1);
    log.push(row(500));
    await eventually(() => log.stats().written === 501, 5000, 'the timer flush');
    assert.equal((db.prepare('SELECT count(*) AS n FROM request_log').get() as { n: number }).n, 501);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    await log.close();
    db.close();
  });

  it('the writer thread writes batches in order, one at a time; an in-memory database is written inline', async () => {
    const db = await openDatabase(join(dir, 'd.db'));
    const log = new UsageLog(db, createLogger('silent'), { batchSize: 10, intervalMs: 60_000 });
    for (let i = 0; i < 35; i++) log.push(row(i));
    assert.equal(await log.flush(), 35);
    const ts = writtenTs(db);
    assert.deepEqual(ts, Array.from({ length: 35 }, (_, i) => 1000 + i));
    assert.equal(log.stats().flushes, 4);
    await log.close();
    db.close();

    const memory = await openDatabase(':memory:');
    const inline = new UsageLog(memory, createLogger('silent'));
    inline.push(row(1));
    assert.equal(await inline.flush(), 1);
    assert.equal(inline.stats().writer, 'inline');
    await inline.close();
    memory.close();
  });

  it('while the database refuses writes, rows beyond maxPending drop the oldest whole batches, counted', async () => {
    const file = join(dir, 'e.db');
    const db = await openDatabase(file);
    const log = new UsageLog(
      db, createLogger('silent'), { batchSize: 5, maxPending: 10, intervalMs: 60_000, busyTimeoutMs: 0 },
    );
    const blocker = new Database(file);
    blocker.exec('BEGIN EXCLUSIVE');
    for (let i = 0; i < 5; i++) log.push(row(i));
    await eventually(() => log.stats().failedFlushes === 1, 5000, 'the first refused batch');
    // Rows 0-4 are retried (in flight) while 5-24 arrive: 5-9 and 10-14 are dropped to stay within maxPending.
    for (let i = 5; i < 25; i++) log.push(row(i));
    await eventually(() => log.stats().failedFlushes === 2, 5000, 'the retried batch refused again');
    assert.equal(log.stats().dropped, 10);
    assert.equal(log.stats().pending, 15);
    blocker.exec('COMMIT');
    blocker.close();
    assert.equal(await log.flush(), 15);
    const ts = writtenTs(db).map((t) => t - 1000);
    assert.deepEqual(ts, [0, 1, 2, 3, 4, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    await log.close();
    db.close();
  });

  it('a flush the database refuses keeps its rows for the next one', async () => {
    const db = await openDatabase(join(dir, 'c.db'));
    const log = new UsageLog(db, createLogger('silent'), { intervalMs: 60_000, busyTimeoutMs: 0 });
    log.push(row(1));
    const blocker = new Database(join(dir, 'c.db'));
    blocker.pragma('busy_timeout = 0');
    blocker.exec('BEGIN EXCLUSIVE');
    assert.equal(await log.flush(), 0);
    assert.equal(log.stats().pending, 1);
    assert.equal(log.stats().failedFlushes, 1);
    blocker.exec('COMMIT');
    blocker.close();
    assert.equal(await log.flush(), 1);
    await log.close();
    db.close();
  });
});

/** The `ts` of every request-log row, in insertion order. */
function writtenTs(db: Db): number[] {
  return (db.prepare('SELECT ts FROM request_log ORDER BY id').all() as { ts: number }[]).map((r) => r.ts);
}
