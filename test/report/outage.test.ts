import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startManaged, type Managed } from '../admin/managed.js';
import { echoServer } from '../fixtures/tcp.js';
import { freePort } from '../helpers/listen.js';
import { connectTo, readBytes } from '../helpers/sockets.js';
import { eventually, sleep } from '../helpers/wait.js';
import { ledger, Receiver } from './receiver.js';

/** How long the receiver is down: the 30 s, with pushes every 200 ms and a back-off capped at 1 s. */
const OUTAGE_MS = 30_000;

/** Relays through the forward until `stop()`, one small connection at a time; resolves with what it sent. */
function steadyTraffic(port: number): { stop(): Promise<{ connections: number; bytes: number }> } {
  let running = true;
  let connections = 0;
  let bytes = 0;
  const loop = (async () => {
    while (running) {
      const client = await connectTo(port);
      const data = Buffer.alloc(500 + (connections % 7) * 100, 0x61 + (connections % 26));
      client.write(data);
      await readBytes(client, data.length);
      client.destroy();
      connections++;
      bytes += data.length;
      await sleep(100);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { connections, bytes };
    },
  };
}

async function reportStatus(tg: Managed): Promise<{
  failures: number; down: boolean; unackedBatches: number; pendingSubjects: number; lastAckedSeq: number | null;
}> {
  return (await tg.api('GET', '/report')).body;
}

describe('pushed reports across a 30 s receiver outage', () => {
  it('queue in the outbox while the receiver is down and arrive in order once it is back: totals equal the ledger',
    { timeout: 120_000 }, async () => {
      const target = await echoServer();
      const receiver = new Receiver(await freePort(), 'tidegate');
      await receiver.start();
      const tg = await startManaged({
        report: { url: `http://127.0.0.1:${receiver.port}/ingest`, interval: '200ms', maxRetryDelay: '1s' },
        users: [{ id: 'u' }],
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'u', targets: [target.address] }],
      });
      try {
        const fwd = tg.runtime.status().services.find((s) => s.name === 'fwd')!;
        const traffic = steadyTraffic(Number(fwd.listen.split(':').pop()));
        // Up first: batches are acknowledged as they are cut.
        await eventually(() => receiver.seqs.length >= 2, 20_000, 'two batches delivered before the outage');
        await receiver.stop();
        const ackedBefore = receiver.seqs.length;
        const outageStart = Date.now();
        let sawDown = false;
        let maxUnacked = 0;
        while (Date.now() - outageStart < OUTAGE_MS) {
          await sleep(1_000);
          const s = await reportStatus(tg);
          sawDown ||= s.down;
          maxUnacked = Math.max(maxUnacked, s.unackedBatches);
        }
        const during = await reportStatus(tg);
        // Several pushes failed; the batch cut before the outage waits with its sequence, later deltas coalesce.
        assert.ok(during.failures >= 5, JSON.stringify(during));
        assert.ok(sawDown, 'the receiver was reported down');
        assert.ok(maxUnacked >= 1 && during.unackedBatches >= 1, JSON.stringify(during));
        assert.ok(during.pendingSubjects >= 1, `deltas of the outage wait in the outbox: ${JSON.stringify(during)}`);
        assert.equal(receiver.seqs.length, ackedBefore, 'nothing reached a receiver that is down');
        const firstQueued = (during.lastAckedSeq ?? 0) + 1;
        await receiver.start();
        const sent = await traffic.stop();
        await eventually(async () => {
          await tg.runtime.accounting.flush();
          await tg.runtime.reportNow();
          const s = await reportStatus(tg);
          return s.unackedBatches === 0 && s.pendingSubjects === 0;
        }, 30_000, 'every batch acknowledged after the outage');
        // In order, none lost, none twice: the queued batch came first with its own sequence.
        assert.equal(receiver.seqs[ackedBefore], firstQueued);
        assert.deepEqual(receiver.seqs, receiver.seqs.map((_s, i) => i + 1), 'consecutive sequences from 1');
        for (let i = 1; i < receiver.deliveries.length; i++) {
          assert.ok(receiver.deliveries[i]! >= receiver.deliveries[i - 1]!, `in order: ${receiver.deliveries}`);
        }
        const file = join(tg.dir, 'tidegate.db');
        assert.deepEqual(receiver.users.get('u'), ledger(file, 'user', 'u'));
        assert.deepEqual(receiver.services.get('fwd'), ledger(file, 'service', 'fwd'));
        assert.equal(receiver.users.get('u')!.connections, sent.connections);
        assert.equal(receiver.users.get('u')!.bytesIn, sent.bytes);
      } finally {
        await tg.stop();
        if (receiver.server) await receiver.stop();
        await target.close();
      }
    });
});
