import { Counter, type Registry } from 'prom-client';
import type { ServiceStatus } from '../contracts/service-status.js';

/**
 * Service-level counters read from `/status` at scrape time: recoveries by kind (`listener`: re-bound after it failed;
 * `handler`: the service restarted after its handler threw) and connections refused before admission, by reason.
 * Labels are configured service names, the two kinds and the fixed reason keys of `detail.refusedBy`.
 */
export function registerServiceMetrics(registry: Registry, services: () => readonly ServiceStatus[]): void {
  new Counter({
    name: 'tidegate_service_recoveries_total',
    help: 'Services recovered alone, by kind: listener (re-bound after it failed), handler (restarted after a fault)',
    labelNames: ['service', 'kind'], registers: [registry],
    collect() {
      this.reset();
      for (const s of services()) {
        const listener = s.detail?.listener as { recoveries?: number } | undefined;
        if (listener?.recoveries !== undefined) this.inc({ service: s.name, kind: 'listener' }, listener.recoveries);
        const handler = s.detail?.handler as { restarts?: number } | undefined;
        if (handler?.restarts !== undefined) this.inc({ service: s.name, kind: 'handler' }, handler.restarts);
      }
    },
  });
  new Counter({
    name: 'tidegate_service_refusals_total',
    help: 'Connections (gateway: also requests) a service refused, by reason (per-IP limits, PROXY protocol)',
    labelNames: ['service', 'reason'], registers: [registry],
    collect() {
      this.reset();
      for (const s of services()) {
        const by = s.detail?.refusedBy as Record<string, number> | undefined;
        if (by === undefined) continue;
        for (const reason of Object.keys(by)) this.inc({ service: s.name, reason }, by[reason]!);
      }
    },
  });
}
