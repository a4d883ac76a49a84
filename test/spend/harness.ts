import Database from 'better-sqlite3';
import type { Gateway } from '../helpers/gateway.js';

/** Flushes the request log and returns its rows (the gateway runs with `sqlite: true`). */
export async function flushedRows(gw: Gateway<string>): Promise<Record<string, unknown>[]> {
  await gw.runtime.usageLog?.flush();
  const db = new Database(gw.dbFile!, { readonly: true });
  try {
    return db.prepare('SELECT * FROM request_log ORDER BY id').all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

/** The Prometheus text `GET /metrics` serves. */
export function metrics(gw: Gateway<string>): Promise<string> {
  return gw.runtime.accounting.metrics.metrics();
}

/** The body `GET /users/:id/usage` serves. */
export function usageOf(gw: Gateway<string>, user: string): Record<string, unknown> {
  return gw.runtime.accounting.usage(user) as unknown as Record<string, unknown>;
}

/** The value of a Prometheus sample line `name{labels} value`, or NaN. */
export function sample(text: string, name: string, labels: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(labels)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return NaN;
}
