import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { connectTo, readBytes } from '../helpers/sockets.js';
import { echoServer } from '../fixtures/tcp.js';
import { eventually, sleep } from '../helpers/wait.js';
import { freePort } from '../helpers/listen.js';
import { startManaged, TOKEN, type Managed } from '../admin/managed.js';

interface Totals { bytesIn: number; bytesOut: number; connections: number }

/**
 * A receiver written from the formats' documentation: tidegate's (`seq`, `users[]`, `services[]`) deduped by
 * sequence; GOST's observer events (`{"events":[{"kind":"service"|"handler","service","client","type":"stats",
 * "stats":{"totalConns","currentConns","inputBytes","outputBytes","totalErrs"}}]}`) with the sequence in
 * X-Tidegate-Seq. `failFirst` requests are answered 500 (their batches must come again with the same sequence).
 */
class Receiver {
  readonly seqs: number[] = [];
  readonly refused: number[] = [];
  readonly users = new Map<string, Totals>();
  readonly services = new Map<string, Totals>();
  server: Server | null = null;
  failFirst = 0;
  auth: string[] = [];

  constructor(readonly port: number, readonly format: 'tidegate' | 'gost') {}

  start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        this.auth.push(String(req.headers.authorization));
        const seq = Number(req.headers['x-tidegate-seq']);
        if (this.failFirst > 0) {
          this.failFirst--;
          this.refused.push(seq);
          res.writeHead(500).end();
          return;
        }
        if (!this.seqs.includes(seq)) {
          this.seqs.push(seq);
          this.take(JSON.parse(body), seq);
        }
        res.writeHead(204).end();
      });
    });
    return new Promise((resolve) => this.server!.listen(this.port, '127.0.0.1', () => resolve()));
  }

  stop(): Promise<void> {
    const s = this.server!;
    this.server = null;
    s.closeAllConnections();
    return new Promise((resolve) => s.close(() => resolve()));
  }

  private take(payload: any, seq: number): void { // eslint-disable-line @typescript-eslint/no-explicit-any
    if (this.format === 'tidegate') {
      assert.equal(payload.seq, seq);
      for (const u of payload.users) add(this.users, u.id, u.bytesIn, u.bytesOut, u.connections);
      for (const s of payload.services) add(this.services, s.id, s.bytesIn, s.bytesOut, s.connections);
      return;
    }
    for (const e of payload.events) {
      assert.equal(e.type, 'stats');
      const s = e.stats;
      if (e.kind === 'service') add(this.services, e.service, s.inputBytes, s.outputBytes, s.totalConns);
      else if (e.kind === 'handler') add(this.users, e.client, s.inputBytes, s.outputBytes, s.totalConns);
      else assert.fail(`unknown kind ${e.kind}`);
    }
  }
}

function add(map: Map<string, Totals>, id: string, bytesIn: number, bytesOut: number, connections: number): void {
  const t = map.get(id) ?? { bytesIn: 0, bytesOut: 0, connections: 0 };
  map.set(id, {
    bytesIn: t.bytesIn + bytesIn, bytesOut: t.bytesOut + bytesOut, connections: t.connections + connections,
  });
}

function ledger(file: string, kind: string, subject: string): Totals {
  const db = new Database(file, { readonly: true });
  try {
    const row = db.prepare(
      "SELECT bytes_in, bytes_out, connections FROM accounting_usage WHERE kind = ? AND subject = ? AND period = 'all'",
    )
      .get(kind, subject) as { bytes_in: number; bytes_out: number; connections: number };
    return { bytesIn: row.bytes_in, bytesOut: row.bytes_out, connections: row.connections };
  } finally {
    db.close();
  }
}

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
