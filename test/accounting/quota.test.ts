import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { echoServer, firehose } from '../fixtures/tcp.js';
import { type TestServer } from '../helpers/listen.js';
import { connectTo, countUntilClose, sendBytes } from '../helpers/sockets.js';
import { engines, startTidegate, testConfig } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

const KiB = 1024;

for (const engine of engines()) {
  describe(`quotas (${engine.kind} engine)`, () => {
    let echo: TestServer;
    let hose: TestServer;
    before(async () => {
      echo = await echoServer();
      hose = await firehose();
    });
    after(async () => {
      await echo.close();
      await hose.close();
    });

    it('refuses a new connection of a user past the quota: closed at once, counted, '
      + 'recorded as quota_exceeded', async () => {
      const tg = await startTidegate({
        users: [{ id: 'alice', quota: { bytes: '64KiB', direction: 'in' } }],
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'alice', targets: [echo.address] }],
      }, { engine });
      try {
        const first = await connectTo(tg.port('fwd'));
        const firstDone = countUntilClose(first);
        await sendBytes(first, 64 * KiB);
        first.end();
        await firstDone;
        await eventually(() => tg.records.length, (n) => n === 1);
        assert.equal(tg.runtime.accounting.check('alice')?.reason, 'quota_exceeded');

        const second = await connectTo(tg.port('fwd'));
        second.write('hello');
        assert.equal(await countUntilClose(second), 0, 'nothing is relayed for a refused user');
        await eventually(() => tg.records.length, (n) => n === 2);
        const refused = tg.records[1]!;
        assert.equal(refused.reason, 'quota_exceeded');
        assert.equal(refused.user, 'alice');
        assert.equal(refused.bytesIn, 0);
        const svc = tg.runtime.status().services[0]!;
        assert.equal(svc.connections.refused, 1);
        const usage = tg.runtime.accounting.usage('alice')!;
        assert.equal(usage.live.refused, 1);
        assert.equal(usage.quota!.remaining, 0);
        assert.equal(usage.quota!.refusal, 'quota_exceeded');
      } finally {
        await tg.stop();
      }
    });

    it('closes a live connection that crosses the quota within about a second of traffic', async () => {
      // 256 KiB/s out, quota 128 KiB out: without the cut-off the firehose would run until the client stops.
      const rate = 256 * KiB;
      const tg = await startTidegate({
        users: [{ id: 'bob', quota: { bytes: '128KiB', direction: 'out' }, rate: { out: `${rate}B/s` } }],
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'bob', targets: [hose.address] }],
      }, { engine });
      try {
        const client = await connectTo(tg.port('fwd'));
        const received = await countUntilClose(client);
        await eventually(() => tg.records.length, (n) => n === 1);
        const record = tg.records[0]!;
        assert.equal(record.reason, 'quota_exceeded');
        assert.ok(received >= 128 * KiB, `relayed up to the quota (${received})`);
        // Crossing is noticed at the next sample (≤ 250 ms): at this rate that is far less than 1 s of traffic
        // (the first second's burst included).
        assert.ok(received <= 128 * KiB + 2 * rate, `cut within a second of crossing (${received} bytes)`);
        assert.equal(record.bytesOut, received);
      } finally {
        await tg.stop();
      }
    });

    it('refuses a user whose quota expired, with quota_expired', async () => {
      const tg = await startTidegate({
        users: [
          { id: 'carol', quota: { bytes: '1GiB', expires: '2020-01-01T00:00:00Z' } },
          { id: 'dave', quota: { bytes: '1GiB', expires: '2999-01-01' } },
        ],
        services: [
          { name: 'c', type: 'forward', listen: '127.0.0.1:0', user: 'carol', targets: [echo.address] },
          { name: 'd', type: 'forward', listen: '127.0.0.1:0', user: 'dave', targets: [echo.address] },
        ],
      }, { engine });
      try {
        const c = await connectTo(tg.port('c'));
        await countUntilClose(c);
        await eventually(() => tg.records.length, (n) => n === 1);
        assert.equal(tg.records[0]!.reason, 'quota_expired');
        const d = await connectTo(tg.port('d'));
        d.write('ping');
        const echoed = await new Promise<string>((resolve) => d.once('data', (b: Buffer) => resolve(b.toString())));
        assert.equal(echoed, 'ping');
        d.destroy();
      } finally {
        await tg.stop();
      }
    });
  });
}

for (const engine of engines()) {
  describe(`quota changes on reload (${engine.kind} engine)`, () => {
    it('a raised quota lets the user back in; usage carries over; a removed user is gone from usage', async () => {
      const echo = await echoServer();
      const doc = (bytes: string, users: string[]) => ({
        users: users.map((id) => ({ id, quota: { bytes } })),
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'alice', targets: [echo.address] }],
      });
      const tg = await startTidegate(doc('8KiB', ['alice', 'bob']), { engine });
      try {
        const c = await connectTo(tg.port('fwd'));
        const done = countUntilClose(c);
        await sendBytes(c, 4 * KiB);
        c.end();
        await done;
        await eventually(() => tg.records.length, (n) => n === 1);
        assert.equal(tg.runtime.accounting.check('alice')?.reason, 'quota_exceeded');
        await tg.runtime.reload(testConfig(doc('1MiB', ['alice'])));
        assert.equal(tg.runtime.accounting.check('alice'), null);
        assert.equal(tg.runtime.accounting.usage('alice')!.quota!.used, 8 * KiB);
        assert.equal(tg.runtime.accounting.usage('alice')!.quota!.remaining, 1024 * KiB - 8 * KiB);
        assert.equal(tg.runtime.accounting.usage('bob'), null);
      } finally {
        await tg.stop();
        await echo.close();
      }
    });
  });
}
