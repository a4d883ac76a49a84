import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { validateConfig } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { Runtime } from '../../src/runtime/runtime.js';

/** A tidegate with one gateway service `llm`, its admin API and a SQLite request log, all on 127.0.0.1. */
export interface SpendGateway {
  readonly runtime: Runtime;
  readonly url: string;
  readonly admin: string;
  readonly dir: string;
  readonly dbFile: string;
  /** `top`: top-level config keys (users, prices, store…) besides the service; `gateway`: the service's section. */
  reload(gateway: Record<string, unknown>, top?: Record<string, unknown>): Promise<{ ok: boolean; failed: unknown }>;
  rows(): Record<string, unknown>[];
  metrics(): Promise<string>;
  usage(user: string): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function startSpendGateway(
  gateway: Record<string, unknown>, top: Record<string, unknown> = {},
): Promise<SpendGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'tidegate-spend-'));
  const dbFile = join(dir, 'runtime.db');
  const build = (gw: Record<string, unknown>, t: Record<string, unknown>) => validateConfig({
    admin: { listen: '127.0.0.1:0' },
    log: { level: 'silent' },
    store: { sqlite: dbFile },
    pool: { threads: 1 },
    ...t,
    services: [{ name: 'llm', type: 'gateway', listen: '127.0.0.1:0', ...gw }],
  });
  const runtime = await Runtime.start(build(gateway, top), { log: createLogger('silent') });
  const listen = runtime.status().services[0]!.listen;
  const admin = `http://${runtime.adminAddress()!}`;
  return {
    runtime,
    url: `http://${listen}`,
    admin,
    dir,
    dbFile,
    async reload(gw, t = top) {
      const result = await runtime.reload(build(gw, t));
      return { ok: result.ok, failed: result.failed };
    },
    rows() {
      const db = new Database(dbFile, { readonly: true });
      try {
        return db.prepare('SELECT * FROM request_log ORDER BY id').all() as Record<string, unknown>[];
      } finally {
        db.close();
      }
    },
    async metrics() {
      const r = await request(`${admin}/metrics`);
      return r.body.text();
    },
    async usage(user) {
      const r = await request(`${admin}/users/${user}/usage`);
      return (await r.body.json()) as Record<string, unknown>;
    },
    async close() {
      await runtime.shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Flushes the request log (a reload flushes it) and returns its rows. */
export async function flushedRows(gw: SpendGateway): Promise<Record<string, unknown>[]> {
  await gw.runtime.usageLog?.flush();
  return gw.rows();
}

/** The value of a Prometheus sample line `name{labels} value`, or NaN. */
export function sample(text: string, name: string, labels: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(labels)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return NaN;
}

export async function eventually<T>(read: () => T | Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}
