import { Counter, Gauge, type Registry } from 'prom-client';
import type { Slot } from './slot.js';

/** The fleet as `GET /metrics` shows it: one series per worker slot (a bounded label: 1..workers). */
export function registerWorkerMetrics(registry: Registry, fleet: { readonly slots: readonly Slot[] }): void {
  new Gauge({
    name: 'tidegate_worker_up', help: 'Whether the worker slot has a worker serving (1) or not (0)',
    labelNames: ['worker'], registers: [registry],
    collect() {
      this.reset();
      for (const s of fleet.slots) this.set({ worker: String(s.index) }, s.state === 'running' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'tidegate_worker_failed',
    help: 'Whether the worker slot crashed 5 times in a minute and is not restarted (until a rolling restart)',
    labelNames: ['worker'], registers: [registry],
    collect() {
      this.reset();
      for (const s of fleet.slots) this.set({ worker: String(s.index) }, s.state === 'failed' ? 1 : 0);
    },
  });
  new Counter({
    name: 'tidegate_worker_restarts_total', help: 'Workers started into the slot after its first (crashes and rolling)',
    labelNames: ['worker'], registers: [registry],
    collect() {
      this.reset();
      for (const s of fleet.slots) this.inc({ worker: String(s.index) }, s.restarts);
    },
  });
  new Counter({
    name: 'tidegate_worker_crashes_total', help: 'Unexpected exits of the slot\'s workers',
    labelNames: ['worker'], registers: [registry],
    collect() {
      this.reset();
      for (const s of fleet.slots) this.inc({ worker: String(s.index) }, s.totalCrashes);
    },
  });
  new Gauge({
    name: 'tidegate_worker_live_connections', help: 'Live connections of a service in a worker (its last report)',
    labelNames: ['worker', 'service'], registers: [registry],
    collect() {
      this.reset();
      for (const s of fleet.slots) {
        for (const svc of s.member?.report?.services ?? []) {
          this.inc({ worker: String(s.index), service: svc.name }, svc.connections.live);
        }
      }
    },
  });
}
