import { Counter, Gauge, type Registry } from 'prom-client';
import type { HealthSnapshot } from '../contracts/health.js';

/** Health-checked subjects of one service. */
export interface HealthSource {
  readonly service: string;
  readonly subjects: readonly HealthSnapshot[];
}

/**
 * `tidegate_health_up` (1/0) and `tidegate_health_checks_total` by result, read at scrape time. Labels are service
 * and subject names from the config, so label sets stay bounded.
 */
export function healthMetrics(registry: Registry, source: () => Iterable<HealthSource>): void {
  new Gauge({
    name: 'tidegate_health_up',
    help: 'Whether a health-checked subject (kind: upstream, ...) is up (1) or down (0)',
    labelNames: ['service', 'kind', 'name'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of source()) {
        for (const h of s.subjects) this.set({ service: s.service, kind: h.kind, name: h.name }, h.up ? 1 : 0);
      }
    },
  });
  new Counter({
    name: 'tidegate_health_checks_total',
    help: 'Active health checks of a subject by result (ok, failed)',
    labelNames: ['service', 'kind', 'name', 'result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of source()) {
        for (const h of s.subjects) {
          const labels = { service: s.service, kind: h.kind, name: h.name };
          this.inc({ ...labels, result: 'ok' }, h.checks - h.failedChecks);
          this.inc({ ...labels, result: 'failed' }, h.failedChecks);
        }
      }
    },
  });
}
