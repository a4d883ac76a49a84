import { Counter, type Registry } from 'prom-client';
import type { ServiceStatus } from '../contracts/service-status.js';

/**
 * Service-level counters read from `/status` at scrape time: listener recoveries and connections refused before
 * admission, by reason. Labels are configured service names and the fixed reason keys of `detail.refusedBy`.
 */
export function registerServiceMetrics(registry: Registry, services: () => readonly ServiceStatus[]): void {
  new Counter({
    name: 'tidegate_service_recoveries_total',
    help: 'Listeners of a service bound again after they failed, this process',
    labelNames: ['service'], registers: [registry],
    collect() {
      this.reset();
      for (const s of services()) {
        const listener = s.detail?.listener as { recoveries?: number } | undefined;
        if (listener?.recoveries !== undefined) this.inc({ service: s.name }, listener.recoveries);
      }
    },
  });
  new Counter({
    name: 'tidegate_service_refusals_total',
    help: 'Connections a service closed before admission, by reason (per-IP limits, PROXY protocol), this process',
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
