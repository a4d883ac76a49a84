import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { connectTo, readBytes } from '../helpers/sockets.js';
import { echoServer } from '../fixtures/tcp.js';
import { eventually, sleep } from '../helpers/wait.js';
import { freePort } from '../helpers/listen.js';
import { startManaged, TOKEN, type Managed } from '../admin/managed.js';
import { ledger, Receiver } from './receiver.js';

async function traffic(port: number, connections: number, bytes: number): Promise<void> {
  for (let i = 0; i < connections; i++) {
    const client = await connectTo(port);
    const data = Buffer.alloc(bytes, 0x62 + i);
    client.write(data);
    await readBytes(client, bytes);
    client.destroy();
  }
}

async function drain(tg: Managed): Promise<void> {
  await eventually(async () => {
    await tg.runtime.accounting.flush();
    await tg.runtime.reportNow();
    const s = (await tg.api('GET', '/report')).body;
    return s.unackedBatches === 0 && s.pendingSubjects === 0;
  }, 20_000, 'every batch acknowledged');
}

for (const format of ['tidegate', 'gost'] as const) {
  describe(`pushed reports (${format})`, () => {
    it('survive a receiver that is down, refuses, and a restart: totals equal the ledger, no sequence twice',
      async () => {
        const target = await echoServer();
        const receiver = new Receiver(await freePort(), format);
        const tg = await startManaged({
          report: {
            url: `http://127.0.0.1:${receiver.port}/ingest`, interval: '100ms', maxRetryDelay: '300ms', format,
            token: 'report-token',
          },
          users: [{ id: 'u' }],
          services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'u', targets: [target.address] }],
        });
        try {
          const fwd = () => tg.runtime.status().services.find((s) => s.name === 'fwd')!;
          const port = () => Number(fwd().listen.split(':').pop());
          // Down: nothing listens; batches wait in SQLite and new deltas coalesce.
          await traffic(port(), 5, 3000);
          await sleep(500);
          await traffic(port(), 5, 2000);
          await tg.runtime.accounting.flush();
          await tg.runtime.reportNow();
          const down = (await tg.api('GET', '/report')).body;
          assert.ok(down.failures >= 1, JSON.stringify(down));
          assert.ok(down.unackedBatches >= 1, JSON.stringify(down));
          // Still down across a restart.
          await tg.restart();
          await traffic(port(), 3, 1000);
          // Up, but refusing twice first: the same sequence comes again.
          receiver.failFirst = 2;
          await receiver.start();
          await traffic(port(), 4, 4000);
          await drain(tg);
          assert.equal(receiver.refused.length, 2);
          assert.ok(receiver.seqs.includes(receiver.refused[0]!));
          const consecutive = receiver.seqs.map((_s, i) => i + 1);
          assert.deepEqual(receiver.seqs, consecutive, 'consecutive sequences from 1, none twice');
          assert.deepEqual(receiver.users.get('u'), ledger(join(tg.dir, 'tidegate.db'), 'user', 'u'));
          assert.deepEqual(receiver.services.get('fwd'), ledger(join(tg.dir, 'tidegate.db'), 'service', 'fwd'));
          assert.equal(receiver.users.get('u')!.connections, 17);
          assert.equal(receiver.users.get('u')!.bytesIn, 5 * 3000 + 5 * 2000 + 3 * 1000 + 4 * 4000);
          assert.ok(receiver.auth.every((a) => a === 'Bearer report-token'));
        } finally {
          await tg.stop();
          if (receiver.server) await receiver.stop();
          await target.close();
        }
      });
  });
}

describe('report config', () => {
  it('needs a SQLite store', async () => {
    const { validateConfig } = await import('../../src/config/schema.js');
    const noStore = { store: { sqlite: 'off' }, report: { url: 'http://127.0.0.1:1/' } };
    assert.throws(() => validateConfig(noStore), /report: pushed reports need store\.sqlite/);
    const bad = { report: { url: 'ftp://x', format: 'xml' } };
    assert.throws(() => validateConfig(bad), /report\.url[\s\S]*report\.format/);
    void TOKEN;
  });
});
