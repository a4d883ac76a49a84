import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { periodKey } from '../../src/accounting/period.js';
import type { QuotaConfig } from '../../src/config/schema.js';
import { Ledger } from '../../src/store/ledger.js';
import { echoServer } from '../fixtures/tcp.js';
import { connectTo, countUntilClose, sendBytes, sendThrough } from '../helpers/sockets.js';
import { tempDir } from '../helpers/temp.js';
import { engines, startTidegate } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

function quota(period: QuotaConfig['period'], timezone = 'UTC'): QuotaConfig {
  return {
    bytes: 1, direction: 'total', period, timezone, expiresAt: null, tokens: null, requests: null, costMicros: null,
    costCurrency: null, resetDay: 1,
  };
}

describe('quota periods', () => {
  it('names daily and monthly periods in the quota time zone', () => {
    const t = Date.parse('2026-01-31T23:30:00Z');
    assert.equal(periodKey(quota('none'), t), 'all');
    assert.equal(periodKey(null, t), 'all');
    assert.equal(periodKey(quota('daily'), t), 'd:2026-01-31');
    assert.equal(periodKey(quota('monthly'), t), 'm:2026-01');
    // 07:30 on Feb 1st in Shanghai (UTC+8): a new day and a new month there.
    assert.equal(periodKey(quota('daily', 'Asia/Shanghai'), t), 'd:2026-02-01');
    assert.equal(periodKey(quota('monthly', 'Asia/Shanghai'), t), 'm:2026-02');
    assert.equal(periodKey(quota('monthly'), t + 60 * 60 * 1000), 'm:2026-02');
  });
});

for (const engine of engines()) {
  describe(`quota periods on a relay (${engine.kind} engine)`, () => {
    it('resets usage at the period boundary (injected clock) and books each period in the ledger', async () => {
      const echo = await echoServer();
      const dir = tempDir();
      const file = join(dir, 'tidegate.db');
      let now = Date.parse('2026-03-10T23:59:58Z');
      const tg = await startTidegate({
        store: { sqlite: file, sync: { interval: '1h' } },
        users: [{ id: 'alice', quota: { bytes: '32KiB', direction: 'in', period: 'daily' } }],
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'alice', targets: [echo.address] }],
      }, { engine, clock: () => now });
      try {
        await sendThrough(tg.port('fwd'), 32 * 1024);
        await eventually(() => tg.records.length, (n) => n === 1);
        assert.equal(tg.runtime.accounting.check('alice')?.reason, 'quota_exceeded');
        const refused = await connectTo(tg.port('fwd'));
        assert.equal(await countUntilClose(refused), 0);
        assert.equal(tg.records[1]!.reason, 'quota_exceeded');

        now = Date.parse('2026-03-11T00:00:01Z');
        assert.equal(tg.runtime.accounting.check('alice'), null, 'a new day: the quota is fresh');
        const usage = tg.runtime.accounting.usage('alice')!;
        assert.equal(usage.quota!.currentPeriod, 'd:2026-03-11');
        assert.equal(usage.quota!.used, 0);
        await sendThrough(tg.port('fwd'), 1000);
        await eventually(() => tg.records.length, (n) => n === 3);
        assert.equal(tg.records[2]!.reason, 'done');
        assert.equal(
          tg.runtime.accounting.usage('alice')!.quota!.used, 1000, 'direction in counts client-to-target bytes only',
        );
        assert.equal(await tg.runtime.accounting.flush(), true);
      } finally {
        await tg.stop();
        await echo.close();
      }
      const db = new Database(file);
      const ledger = new Ledger(db);
      assert.equal(ledger.read('user', 'alice', 'd:2026-03-10')?.bytesIn, 32 * 1024);
      assert.equal(ledger.read('user', 'alice', 'd:2026-03-11')?.bytesIn, 1000);
      assert.equal(ledger.read('user', 'alice', 'all')?.bytesIn, 32 * 1024 + 1000);
      db.close();
    });

    it('loads the current period usage from the ledger at start, so a restart does not refresh the quota', async () => {
      const echo = await echoServer();
      const file = join(tempDir(), 'tidegate.db');
      const now = Date.parse('2026-05-20T12:00:00Z');
      const doc = {
        store: { sqlite: file },
        users: [{ id: 'alice', quota: { bytes: '16KiB', period: 'monthly' } }],
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'alice', targets: [echo.address] }],
      };
      const first = await startTidegate(doc, { engine, clock: () => now });
      const c = await connectTo(first.port('fwd'));
      const done = countUntilClose(c);
      await sendBytes(c, 8 * 1024);
      c.end();
      await done;
      await first.stop();
      const second = await startTidegate(doc, { engine, clock: () => now });
      try {
        const usage = second.runtime.accounting.usage('alice')!;
        assert.equal(usage.durable.bytesIn, 8 * 1024);
        assert.equal(usage.durable.bytesOut, 8 * 1024);
        assert.equal(usage.quota!.used, 16 * 1024);
        assert.equal(second.runtime.accounting.check('alice')?.reason, 'quota_exceeded');
      } finally {
        await second.stop();
        await echo.close();
      }
      // A month later the same ledger gives a fresh quota.
      const third = await startTidegate(doc, { engine, clock: () => Date.parse('2026-06-01T00:00:00Z') });
      try {
        assert.equal(third.runtime.accounting.check('alice'), null);
        assert.equal(third.runtime.accounting.usage('alice')!.durable.bytesIn, 8 * 1024);
      } finally {
        await third.stop();
      }
    });
  });
}
