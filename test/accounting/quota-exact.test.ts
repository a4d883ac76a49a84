import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { socks5Connect } from '../helpers/proxy-client.js';
import { firehose } from '../fixtures/tcp.js';
import { listen, listenHttp, type TestServer } from '../helpers/listen.js';
import { connectTo, countUntilClose } from '../helpers/sockets.js';
import { engines, startTidegate, testConfig } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** The bound the engines promise: at most 256 KiB past the quota per live connection of the user. */
const PER_CONNECTION = 256 * KiB;

/** Counts what a client receives as it arrives; `done` resolves with the total once the connection closes. */
function download(socket: Socket): { received(): number; done: Promise<number> } {
  let bytes = 0;
  socket.on('data', (c: Buffer) => (bytes += c.length));
  return { received: () => bytes, done: countUntilClose(socket) };
}

for (const engine of engines()) {
  describe(`exact byte quotas (${engine.kind} engine)`, { timeout: 120_000 }, () => {
    let hose: TestServer;
    before(async () => {
      hose = await firehose();
    });
    after(async () => {
      await hose.close();
    });

    it('two parallel downloads against a 10 MiB quota deliver at most 10 MiB + 256 KiB per connection', async () => {
      const quota = 10 * MiB;
      const tg = await startTidegate({
        users: [{ id: 'alice', quota: { bytes: '10MiB', direction: 'out' } }],
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'alice', targets: [hose.address] }],
      }, { engine });
      try {
        const clients = await Promise.all([connectTo(tg.port('fwd')), connectTo(tg.port('fwd'))]);
        const received = await Promise.all(clients.map((c) => countUntilClose(c)));
        const total = received[0]! + received[1]!;
        assert.ok(total <= quota + 2 * PER_CONNECTION, `delivered ${total} bytes against a ${quota}-byte quota`);
        // In fact exact: both engines stop at the quota's last byte, and the whole quota is usable.
        assert.equal(total, quota);
        await eventually(() => tg.records.length, (n) => n === 2);
        assert.deepEqual(tg.records.map((r) => r.reason), ['quota_exceeded', 'quota_exceeded']);
        assert.equal(tg.records[0]!.bytesOut + tg.records[1]!.bytesOut, total, 'records count what was delivered');
        assert.equal(tg.runtime.accounting.usage('alice')!.quota!.used, total);
      } finally {
        await tg.stop();
      }
    });

    it('a SOCKS5 proxy user stops at the quota too (the engine-side dial carries the budget)', async () => {
      const tg = await startTidegate({
        users: [{ id: 'pat', quota: { bytes: '4MiB', direction: 'out' } }],
        services: [{
          name: 'px', type: 'proxy', listen: '127.0.0.1:0', routing: 'direct', user: 'pat',
          allowDestinations: ['127.0.0.0/8'],
        }],
      }, { engine });
      try {
        const { socket, reply } = await socks5Connect(tg.port('px'), '127.0.0.1', hose.port);
        assert.equal(reply, 0);
        const done = countUntilClose(socket);
        socket.resume();
        const received = await done;
        // The SOCKS5 reply (10 bytes) counts as bytes out where the engine sends it.
        assert.ok(
          received >= 4 * MiB - 16 && received <= 4 * MiB + PER_CONNECTION, `proxied ${received} bytes against 4 MiB`,
        );
        await eventually(() => tg.records.length, (n) => n === 1);
        assert.equal(tg.records[0]!.reason, 'quota_exceeded');
      } finally {
        await tg.stop();
      }
    });

    it('a plain HTTP proxy user stops at the quota\'s byte: head and body booked with the same budget', async () => {
      const body = Buffer.alloc(4 * MiB, 5);
      const origin = await listenHttp((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
        res.end(body);
      });
      const tg = await startTidegate({
        users: [{ id: 'pam', quota: { bytes: '1MiB', direction: 'out' } }],
        services: [{
          name: 'px', type: 'proxy', listen: '127.0.0.1:0', routing: 'direct', user: 'pam',
          allowDestinations: ['127.0.0.0/8'],
        }],
      }, { engine });
      try {
        const client = await connectTo(tg.port('px'));
        const url = `http://127.0.0.1:${origin.port}/big`;
        client.write(`GET ${url} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
        const received = await countUntilClose(client);
        // Exact: the response head and the body together are the quota, to the byte.
        assert.equal(received, 1 * MiB);
        await eventually(() => tg.records.length, (n) => n === 1);
        assert.equal(tg.records[0]!.reason, 'quota_exceeded');
        assert.equal(tg.records[0]!.bytesOut, 1 * MiB);
        assert.equal(tg.runtime.accounting.usage('pam')!.quota!.used, 1 * MiB);
        // The service's user is over quota: the next connection is closed at accept, as a forward service's is.
        const again = await connectTo(tg.port('px'));
        again.write(`GET ${url} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
        assert.equal(await countUntilClose(again), 0);
      } finally {
        await tg.stop();
        await origin.close();
      }
    });

    it('a quota raised by a reload lets a live connection go on, up to the new quota', async () => {
      // 512 KiB/s: the reload comes long before the first 1 MiB is through.
      const doc = (bytes: string) => ({
        users: [{ id: 'bob', quota: { bytes, direction: 'out' }, rate: { out: '512KiB/s' } }],
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'bob', targets: [hose.address] }],
      });
      const tg = await startTidegate(doc('1MiB'), { engine });
      try {
        const d = download(await connectTo(tg.port('fwd')));
        await eventually(() => d.received(), (n) => n > 0);
        assert.ok(d.received() < 1 * MiB, 'still within the first quota when it is raised');
        await tg.runtime.reload(testConfig(doc('2MiB')));
        const total = await d.done;
        assert.ok(total >= 2 * MiB && total <= 2 * MiB + PER_CONNECTION, `went on to the raised quota (${total})`);
        await eventually(() => tg.records.length, (n) => n === 1);
        assert.equal(tg.records[0]!.reason, 'quota_exceeded');
      } finally {
        await tg.stop();
      }
    });

    it('a new period gives the engine a fresh budget', async () => {
      let now = Date.parse('2026-03-10T23:59:00Z');
      const tg = await startTidegate({
        users: [{ id: 'carol', quota: { bytes: '1MiB', direction: 'out', period: 'daily' } }],
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'carol', targets: [hose.address] }],
      }, { engine, clock: () => now });
      try {
        const first = await countUntilClose(await connectTo(tg.port('fwd')));
        assert.ok(first >= 1 * MiB && first <= 1 * MiB + PER_CONNECTION, `first day (${first})`);
        assert.equal(await countUntilClose(await connectTo(tg.port('fwd'))), 0, 'refused for the rest of the day');
        now = Date.parse('2026-03-11T00:00:01Z');
        const second = await countUntilClose(await connectTo(tg.port('fwd')));
        assert.ok(second >= 1 * MiB && second <= 1 * MiB + PER_CONNECTION, `second day (${second})`);
        await eventually(() => tg.records.length, (n) => n === 3);
        assert.deepEqual(tg.records.map((r) => r.reason), ['quota_exceeded', 'quota_exceeded', 'quota_exceeded']);
      } finally {
        await tg.stop();
      }
    });

    it('no quota, no budget: everything flows; a quota removed by a reload frees live connections', async () => {
      const payload = Buffer.alloc(8 * MiB, 3);
      const source = await listen((socket) => socket.end(payload));
      const doc = (quota: boolean) => ({
        users: [
          { id: 'dave' },
          { id: 'erin', rate: { out: '512KiB/s' }, ...(quota ? { quota: { bytes: '1MiB', direction: 'out' } } : {}) },
        ],
        services: [
          { name: 'free', type: 'forward', listen: '127.0.0.1:0', user: 'dave', targets: [source.address] },
          { name: 'metered', type: 'forward', listen: '127.0.0.1:0', user: 'erin', targets: [hose.address] },
        ],
      });
      const tg = await startTidegate(doc(true), { engine });
      try {
        assert.equal(tg.runtime.accounting.byteBudget('dave'), null);
        assert.equal(await countUntilClose(await connectTo(tg.port('free'))), 8 * MiB);

        const client = await connectTo(tg.port('metered'));
        const d = download(client);
        await eventually(() => d.received(), (n) => n > 0);
        await tg.runtime.reload(testConfig(doc(false)));
        assert.equal(tg.runtime.accounting.byteBudget('erin'), null);
        const passed = await eventually(() => d.received(), (n) => n > 1 * MiB + PER_CONNECTION, 20_000);
        assert.ok(passed > 1 * MiB + PER_CONNECTION, `flows past the removed quota (${passed})`);
        client.destroy();
        await d.done;
        await eventually(() => tg.records.length, (n) => n === 2);
        assert.deepEqual(tg.records.map((r) => r.reason), ['done', 'client_reset']);
      } finally {
        await tg.stop();
        await source.close();
      }
    });
  });
}
