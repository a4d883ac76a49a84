import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { createServer, type Server } from 'node:http';

export interface Totals { bytesIn: number; bytesOut: number; connections: number }

/**
 * A receiver written from the formats' documentation: tidegate's (`seq`, `users[]`, `services[]`) deduped by
 * sequence; GOST's observer events (`{"events":[{"kind":"service"|"handler","service","client","type":"stats",
 * "stats":{"totalConns","currentConns","inputBytes","outputBytes","totalErrs"}}]}`) with the sequence in
 * X-Tidegate-Seq. `failFirst` requests are answered 500 (their batches must come again with the same sequence).
 */
export class Receiver {
  /** Sequences taken, each once (the receiver dedupes). */
  readonly seqs: number[] = [];
  /** Every sequence answered 2xx, in arrival order, repeats included. */
  readonly deliveries: number[] = [];
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
        this.deliveries.push(seq);
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

export function ledger(file: string, kind: string, subject: string): Totals {
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

