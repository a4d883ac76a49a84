import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { echoServer } from '../fixtures/tcp.js';
import { getJson } from '../helpers/http.js';
import { connectTo, countUntilClose, sendBytes } from '../helpers/sockets.js';
import { tempDir } from '../helpers/temp.js';
import { engines, startTidegate } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

for (const engine of engines()) {
  describe(`accounting admin endpoints (${engine.kind} engine)`, () => {
    it('serves /sync, /users/:id/usage (404 for unknown users), /metrics and the ledger state in /status', async () => {
      const echo = await echoServer();
      const tg = await startTidegate({
        admin: { listen: '127.0.0.1:0' },
        store: { sqlite: join(tempDir(), 't.db'), sync: { interval: '1h', batchSize: 7, maxPending: 99 } },
        users: [{ id: 'alice', quota: { bytes: '1MiB', period: 'monthly' } }, { id: 'bob' }],
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'alice', targets: [echo.address] }],
      }, { engine });
      const admin = tg.runtime.adminAddress()!;
      try {
        const c = await connectTo(tg.port('fwd'));
        const done = countUntilClose(c);
        await sendBytes(c, 1000);
        c.end();
        await done;
        await eventually(() => tg.records.length, (n) => n === 1);

        const sync = await getJson(admin, '/sync');
        assert.equal(sync.status, 200);
        assert.deepEqual(sync.body.config, { interval: 3_600_000, batchSize: 7, maxPending: 99 });
        for (const k of ['totalSyncs', 'successfulSyncs', 'failedSyncs', 'avgSyncMs', 'pendingUsers', 'syncing']) {
          assert.ok(k in sync.body.stats, k);
        }
        assert.equal(sync.body.stats.pendingUsers, 2, 'alice and her service wait for the next flush');
        assert.equal(sync.body.stats.syncing, false);

        const usage = await getJson(admin, '/users/alice/usage');
        assert.equal(usage.status, 200);
        assert.equal(usage.body.id, 'alice');
        assert.deepEqual(
          {
            bytesIn: usage.body.live.bytesIn,
            bytesOut: usage.body.live.bytesOut,
            connections: usage.body.live.connections,
          },
          { bytesIn: 1000, bytesOut: 1000, connections: 1 },
        );
        assert.equal(usage.body.live.requests, 0);
        assert.equal(usage.body.live.tokens, 0);
        assert.equal(usage.body.durable.bytesIn, 0);
        assert.equal(usage.body.quota.used, 2000);
        assert.equal(usage.body.quota.remaining, 1024 * 1024 - 2000);
        assert.match(usage.body.quota.currentPeriod, /^m:\d{4}-\d{2}$/);

        const bob = await getJson(admin, '/users/bob/usage');
        assert.equal(bob.body.quota, null);
        const missing = await getJson(admin, '/users/mallory/usage');
        assert.equal(missing.status, 404);
        assert.equal(missing.body.error.code, 'TG_ERR_NOT_FOUND');
        assert.match(missing.body.error.message, /mallory/);

        const metrics = await getJson(admin, '/metrics');
        assert.equal(metrics.status, 200);
        assert.match(metrics.text, /tidegate_user_bytes_total\{user="alice",direction="in"\} 1000/);
        assert.match(metrics.text, /tidegate_service_bytes_total\{service="fwd",direction="out"\} 1000/);
        assert.match(metrics.text, /tidegate_user_quota_remaining_bytes\{user="alice"\} 1046576/);
        assert.doesNotMatch(metrics.text, /mallory/);

        const status = await getJson(admin, '/status');
        assert.equal(status.body.accounting.ledger, 'sqlite');
        assert.equal(status.body.accounting.redis.state, 'off');

        // Flush on reload: the pending deltas reach the ledger.
        await tg.runtime.reload(tg.runtime.config);
        const after = await getJson(admin, '/users/alice/usage');
        assert.equal(after.body.durable.bytesIn, 1000);
        assert.equal((await getJson(admin, '/sync')).body.stats.pendingUsers, 0);
      } finally {
        await tg.stop();
        await echo.close();
      }
    });
  });
}
