import type { StatsTick } from '../admin/stats-stream.js';
import type { ServiceStatus } from '../contracts/service-status.js';

/** A service's numbers in one stats sample: live connections, bytes in and out, gateway requests so far. */
export type ServiceSample = readonly [live: number, bytesIn: number, bytesOut: number, requests: number];

/** What the dashboard charts: one entry per service, counters as they are (the page takes the deltas). */
export interface StatsSample {
  /** Epoch milliseconds. */
  readonly t: number;
  readonly services: Readonly<Record<string, ServiceSample>>;
}

/** One `GET /stats/stream` tick from a `/status` body: the compact sample kept for history, and the body itself. */
export function statsTick(status: { readonly services: readonly ServiceStatus[] }): StatsTick {
  const services: Record<string, ServiceSample> = {};
  for (const s of status.services) {
    // A draining service shares its name with its replacement: the running one (listed first) is charted.
    if (services[s.name] !== undefined) continue;
    const requests = (s.detail?.requests as { total?: unknown } | undefined)?.total;
    services[s.name] = [s.connections.live, s.bytes.in, s.bytes.out, typeof requests === 'number' ? requests : 0];
  }
  const sample: StatsSample = { t: Date.now(), services };
  return { sample, detail: status };
}
