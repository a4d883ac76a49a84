import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import { openDatabase, type Db } from '../../src/store/database.js';
import { RequestQuery, type RequestFilter } from '../../src/store/request-query.js';
import { RequestReader } from '../../src/store/request-reader.js';
import { USAGE_MIGRATIONS } from '../../src/store/usage-log.js';

const START = Date.UTC(2026, 0, 1);

function fill(db: Db, rows: number): void {
  const insert = db.prepare(`INSERT INTO request_log (ts, service, user, channel, endpoint, model, stream, status,
    prompt_tokens, completion_tokens, total_tokens, latency_ms, ttfb_ms, attempts, error)
    VALUES (?, ?, ?, ?, '/v1/chat/completions', ?, 0, ?, 10, 5, 15, ?, 12, 1, ?)`);
  db.transaction(() => {
    for (let i = 0; i < rows; i++) {
      const status = i % 9 === 0 ? 502 : 200;
      insert.run(START + i * 60_000, `svc-${i % 3}`, `user-${i % 7}`, `ch-${i % 2}`, ['m1', 'm2'][i % 2], status,
        100 + (i % 13), status === 200 ? null : 'upstream');
    }
  })();
}

describe('request-log reads on their own thread', () => {
  let dir: string;
  let db: Db;
  let reader: RequestReader;
  let inline: RequestQuery;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tg-reader-'));
    db = await openDatabase(join(dir, 'tidegate.db'), USAGE_MIGRATIONS);
    fill(db, 2_000);
    reader = new RequestReader(db, createLogger('silent'));
    inline = new RequestQuery(db);
  });
  after(async () => {
    await reader.close();
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers pages and summaries as the main connection does, from its thread', async () => {
    const filters: RequestFilter[] = [
      {}, { user: 'user-3' }, { status: 502 }, { service: 'svc-1', since: START + 500 * 60_000 },
      { model: 'm2', until: START + 900 * 60_000 },
    ];
    for (const filter of filters) {
      let cursor: { ts: number; id: number } | null = null;
      for (let n = 0; n < 3; n++) {
        const page = await reader.page(filter, 50, cursor);
        assert.deepEqual(page, inline.page(filter, 50, cursor));
        if (page.nextCursor === null) break;
        const last = page.items[page.items.length - 1]!;
        cursor = { ts: Date.parse(last.ts), id: last.id };
      }
      for (const groupBy of ['user', 'service', 'channel', 'model', 'day'] as const) {
        assert.deepEqual(await reader.summary(groupBy, filter), inline.summary(groupBy, filter));
      }
    }
    assert.equal(reader.mode, 'thread');
  });

  it('sees rows written after it started (its own connection reads the latest commit)', async () => {
    const before = (await reader.summary('service', {})).reduce((n, r) => n + r.requests, 0);
    const writer = new Database(join(dir, 'tidegate.db'));
    writer.prepare(`INSERT INTO request_log (ts, service, endpoint, stream, status, latency_ms, attempts)
      VALUES (?, 'late', '/v1/chat/completions', 0, 200, 1, 1)`).run(START);
    writer.close();
    const rows = await reader.summary('service', {});
    assert.equal(rows.reduce((n, r) => n + r.requests, 0), before + 1);
    assert.ok(rows.some((r) => r.key === 'late'));
  });

  it('reads an in-memory database inline (no other connection can see it)', async () => {
    const memory = await openDatabase(':memory:', USAGE_MIGRATIONS);
    fill(memory, 100);
    const r = new RequestReader(memory, createLogger('silent'));
    assert.equal(r.mode, 'inline');
    assert.equal((await r.page({}, 10, null)).items.length, 10);
    await r.close();
    memory.close();
  });
});
