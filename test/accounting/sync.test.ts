import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Accounting } from '../../src/accounting/accounting.js';
import { createLogger } from '../../src/log.js';
import { JsRelayEngine } from '../../src/relay/js/engine.js';
import { openDatabase, type Db } from '../../src/store/database.js';
import { Ledger } from '../../src/store/ledger.js';
import { tempDir } from '../helpers/temp.js';
import { testConfig } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

function users(n: number): { id: string }[] {
  return Array.from({ length: n }, (_, i) => ({ id: `u${i}` }));
}

async function open(
  sync: Record<string, unknown>, userCount: number,
): Promise<{ accounting: Accounting; db: Db; ledger: Ledger }> {
  const db = await openDatabase(join(tempDir(), 'tidegate.db'));
  const config = testConfig({
    store: { sqlite: 'x.db', sync },
    users: users(userCount),
    services: [{ name: 'llm', type: 'forward', listen: '127.0.0.1:0', targets: ['127.0.0.1:9'] }],
  });
  const accounting = await Accounting.open(config, { log: createLogger('silent'), engine: new JsRelayEngine(), db });
  return { accounting, db, ledger: new Ledger(db) };
}

const FAIL_ALL = `
  CREATE TRIGGER fail_insert BEFORE INSERT ON accounting_usage BEGIN SELECT RAISE(ABORT, 'injected failure'); END;
  CREATE TRIGGER fail_update BEFORE UPDATE ON accounting_usage BEGIN SELECT RAISE(ABORT, 'injected failure'); END;`;
const HEAL = 'DROP TRIGGER fail_insert; DROP TRIGGER fail_update;';

describe('throttled ledger sync', () => {
  it('writes nothing before the interval, then batchSize subjects per transaction', async () => {
    const { accounting, db, ledger } = await open({ interval: '1h', batchSize: 10, maxPending: 1000 }, 25);
    try {
      for (let i = 0; i < 25; i++) accounting.addRequest(`u${i}`, 'llm', i + 1);
      assert.equal(ledger.read('user', 'u0', 'all'), null, 'nothing written before a flush');
      assert.equal(accounting.syncStatus().stats.pendingUsers, 26);
      assert.equal(await accounting.flush(), true);
      const s = accounting.syncStatus();
      // 25 users + 1 service = 26 subjects: 10 + 10 + 6.
      assert.equal(s.stats.totalSyncs, 3);
      assert.equal(s.stats.successfulSyncs, 3);
      assert.equal(s.stats.pendingUsers, 0);
      assert.deepEqual(s.config, { interval: 3_600_000, batchSize: 10, maxPending: 1000 });
      for (let i = 0; i < 25; i++) assert.equal(ledger.read('user', `u${i}`, 'all')?.tokens, i + 1);
      assert.equal(ledger.read('service', 'llm', 'all')?.requests, 25);
      assert.equal(accounting.usage('u3')!.durable.tokens, 4);
      // A second flush with nothing dirty writes nothing.
      await accounting.flush();
      assert.equal(accounting.syncStatus().stats.totalSyncs, 3);
    } finally {
      await accounting.close();
      db.close();
    }
  });

  it('flushes by itself every interval', async () => {
    const { accounting, db, ledger } = await open({ interval: '200ms', batchSize: 500, maxPending: 1000 }, 2);
    try {
      accounting.addRequest('u1', 'llm', 3);
      const row = await eventually(() => ledger.read('user', 'u1', 'all'), (r) => r !== null);
      assert.equal(row?.tokens, 3);
      accounting.addRequest('u1', 'llm', 4);
      assert.equal((await eventually(() => ledger.read('user', 'u1', 'all'), (r) => r?.tokens === 7))?.tokens, 7);
      assert.equal(accounting.syncStatus().stats.emergencyFlushes, 0);
    } finally {
      await accounting.close();
      db.close();
    }
  });

  it('flushes at once when maxPending users are dirty (emergency flush)', async () => {
    const { accounting, db, ledger } = await open({ interval: '1h', batchSize: 500, maxPending: 5 }, 10);
    try {
      for (let i = 0; i < 3; i++) accounting.addRequest(`u${i}`, 'llm', 1);
      // 3 users + the service: 4 dirty, below maxPending.
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(accounting.syncStatus().stats.totalSyncs, 0);
      accounting.addRequest('u3', 'llm', 1);
      const s = await eventually(() => accounting.syncStatus(), (x) => x.stats.pendingUsers === 0);
      assert.equal(s.stats.emergencyFlushes, 1);
      assert.equal(s.stats.successfulSyncs, 1);
      assert.equal(ledger.read('user', 'u3', 'all')?.requests, 1);
    } finally {
      await accounting.close();
      db.close();
    }
  });

  it('keeps every delta when SQLite fails, retries with back-off, and lands them exactly once', async () => {
    const { accounting, db, ledger } = await open({ interval: '1h', batchSize: 500, maxPending: 1000 }, 3);
    try {
      accounting.addRequest('u0', 'llm', 100);
      await accounting.flush();
      db.exec(FAIL_ALL);
      accounting.addRequest('u0', 'llm', 10);
      accounting.addRequest('u1', 'llm', 20);
      assert.equal(await accounting.flush(), false);
      let s = accounting.syncStatus();
      assert.ok(s.stats.failedSyncs >= 1);
      assert.match(s.stats.lastError ?? '', /injected failure/);
      assert.equal(s.stats.pendingUsers, 3);
      accounting.addRequest('u0', 'llm', 1);
      assert.equal(ledger.read('user', 'u0', 'all')?.tokens, 100);
      db.exec(HEAL);
      // No explicit flush: the back-off timer retries by itself.
      s = await eventually(() => accounting.syncStatus(), (x) => x.stats.pendingUsers === 0, 8_000);
      assert.equal(s.stats.pendingUsers, 0);
      assert.equal(ledger.read('user', 'u0', 'all')?.tokens, 111);
      assert.equal(ledger.read('user', 'u0', 'all')?.requests, 3);
      assert.equal(ledger.read('user', 'u1', 'all')?.tokens, 20);
      assert.equal(ledger.read('service', 'llm', 'all')?.tokens, 131);
    } finally {
      await accounting.close();
      db.close();
    }
  });

  it('retries when another connection holds the database locked, without waiting out the busy timeout', async () => {
    const { accounting, db, ledger } = await open({ interval: '1h', batchSize: 500, maxPending: 1000 }, 2);
    const other = new Database(db.name);
    try {
      other.exec('BEGIN IMMEDIATE');
      other.prepare('CREATE TABLE IF NOT EXISTS holder (x)').run();
      accounting.addRequest('u1', 'llm', 7);
      assert.equal(await accounting.flush(), false);
      assert.match(accounting.syncStatus().stats.lastError ?? '', /locked|busy/i);
      assert.equal(accounting.syncStatus().stats.pendingUsers, 2);
      other.exec('COMMIT');
      assert.equal(await accounting.flush(), true);
      assert.equal(ledger.read('user', 'u1', 'all')?.tokens, 7);
      assert.equal(
        Number(db.pragma('busy_timeout', { simple: true })), 5000, 'the connection keeps its own busy timeout',
      );
    } finally {
      other.close();
      await accounting.close();
      db.close();
    }
  });

  it('isolates a row SQLite rejects: the rest of its batch lands', async () => {
    const { accounting, db, ledger } = await open({ interval: '1h', batchSize: 500, maxPending: 1000 }, 3);
    try {
      db.exec(`CREATE TRIGGER reject_u1 BEFORE INSERT ON accounting_usage WHEN NEW.subject = 'u1' `
        + `BEGIN SELECT RAISE(ABORT, 'bad row'); END;`);
      accounting.addRequest('u0', 'llm', 1);
      accounting.addRequest('u1', 'llm', 2);
      accounting.addRequest('u2', 'llm', 3);
      assert.equal(await accounting.flush(), false);
      assert.equal(ledger.read('user', 'u0', 'all')?.tokens, 1);
      assert.equal(ledger.read('user', 'u2', 'all')?.tokens, 3);
      assert.equal(ledger.read('user', 'u1', 'all'), null);
      assert.equal(accounting.syncStatus().stats.pendingUsers, 1);
      db.exec('DROP TRIGGER reject_u1');
      assert.equal(await accounting.flush(), true);
      assert.equal(ledger.read('user', 'u1', 'all')?.tokens, 2);
      assert.equal(ledger.read('user', 'u0', 'all')?.tokens, 1, 'isolated retries never write a row twice');
    } finally {
      await accounting.close();
      db.close();
    }
  });

  it('flushes what is pending on close (shutdown)', async () => {
    const { accounting, db, ledger } = await open({ interval: '1h', batchSize: 500, maxPending: 1000 }, 2);
    accounting.addRequest('u1', 'llm', 42);
    await accounting.close();
    assert.equal(ledger.read('user', 'u1', 'all')?.tokens, 42);
    db.close();
  });
});
