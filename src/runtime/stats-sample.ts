import type { StatsTick } from '../admin/stats-stream.js';
import type { ServiceStatus } from '../contracts/service-status.js';

import type { ServiceSample, StatsSample } from '../contracts/admin-api.js';

export type { ServiceSample, StatsSample };

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
