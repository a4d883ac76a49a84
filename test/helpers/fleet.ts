import { getJson, type Json } from './http.js';
import { reusePortCalls } from '../../src/listen/reuseport.js';

/**
 * Who accepts a native forward service's connections in a fleet's workers, as this test run configures them: the
 * addon on its slot's SO_REUSEPORT socket by default; Node with `TIDEGATE_NATIVE_ACCEPT=0`, the JavaScript engine,
 * or without the addon (node:cluster's round-robin handles have no fd).
 */
export function expectedAccepts(): 'engine' | 'node' {
  const native = process.env.TIDEGATE_RELAY !== 'js' && reusePortCalls() !== null;
  return native && process.env.TIDEGATE_NATIVE_ACCEPT !== '0' ? 'engine' : 'node';
}

/** Who accepts `service` in every worker slot (`GET /workers`), null where a slot does not report it. */
export async function acceptsByWorker(admin: string, service: string): Promise<(string | null)[]> {
  const w = (await getJson(admin, '/workers')).body;
  return w.slots.map((s: Json) => s.services.find((x: Json) => x.name === service)?.accepts ?? null);
}
