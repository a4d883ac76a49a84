import type { Service } from '../contracts/service.js';
import type { ServiceStatus } from '../contracts/service-status.js';
import type { HealthSource } from '../health/metrics.js';

interface Publisher {
  publish(type: string, data: Record<string, unknown>): void;
}

interface Seen {
  readonly state: string;
  readonly listen: string;
  readonly targets: ReadonlyMap<string, boolean>;
  readonly upstreams: ReadonlyMap<string, boolean>;
}

/**
 * Service state, forward-target and upstream-proxy health as events: compares status snapshots (run by the event hub
 * only while someone subscribes) and publishes what changed: `service` (started, stopped, state), `target` and
 * `upstream` (up, down).
 */
export class ServiceWatch {
  private seen: Map<string, Seen> | null = null;
  private readonly statuses: () => readonly ServiceStatus[];
  private readonly out: Publisher;

  constructor(statuses: () => readonly ServiceStatus[], out: Publisher) {
    this.statuses = statuses;
    this.out = out;
  }

  /** Forgets the last snapshot (nobody listened since): the next check sets a new baseline. */
  reset(): void {
    this.seen = null;
  }

  check(): void {
    const now = new Map<string, Seen>();
    for (const s of this.statuses()) {
      // Running first: a draining old listener of the same name does not hide the new one.
      if (now.has(s.name)) continue;
      now.set(s.name, { state: s.state, listen: s.listen, targets: targetsOf(s), upstreams: upstreamsOf(s) });
    }
    const before = this.seen;
    this.seen = now;
    if (before === null) return;
    for (const [name, cur] of now) {
      const prev = before.get(name);
      if (prev === undefined) {
        this.out.publish('service', { service: name, state: cur.state, listen: cur.listen, change: 'started' });
        // A new service's targets are up until they fail: any already down is news.
        for (const [address, up] of cur.targets) {
          if (!up) this.out.publish('target', { service: name, target: address, up });
        }
        for (const [upstream, up] of cur.upstreams) {
          if (!up) this.out.publish('upstream', { service: name, upstream, up });
        }
        continue;
      }
      if (prev.state !== cur.state) {
        this.out.publish('service', { service: name, state: cur.state, listen: cur.listen, change: 'state' });
      }
      for (const [address, up] of cur.targets) {
        const was = prev.targets.get(address);
        if (was !== undefined && was !== up) this.out.publish('target', { service: name, target: address, up });
      }
      for (const [upstream, up] of cur.upstreams) {
        const was = prev.upstreams.get(upstream);
        if (was !== undefined && was !== up) this.out.publish('upstream', { service: name, upstream, up });
      }
    }
    for (const [name, prev] of before) {
      if (now.has(name)) continue;
      this.out.publish('service', { service: name, state: 'stopped', listen: prev.listen, change: 'stopped' });
    }
  }
}

function targetsOf(status: ServiceStatus): Map<string, boolean> {
  const out = new Map<string, boolean>();
  const targets = (status.detail as { targets?: unknown } | null | undefined)?.targets;
  if (!Array.isArray(targets)) return out;
  for (const t of targets as { address?: unknown; up?: unknown }[]) {
    if (typeof t.address === 'string' && typeof t.up === 'boolean') out.set(t.address, t.up);
  }
  return out;
}

/** A proxy service's named upstream proxies and whether each is up (from `detail.upstreams.proxies`). */
function upstreamsOf(status: ServiceStatus): Map<string, boolean> {
  const out = new Map<string, boolean>();
  const upstreams = (status.detail as { upstreams?: { proxies?: unknown } } | null | undefined)?.upstreams;
  const proxies = upstreams?.proxies;
  if (!Array.isArray(proxies)) return out;
  for (const p of proxies as { name?: unknown; up?: unknown }[]) {
    if (typeof p.name === 'string' && typeof p.up === 'boolean') out.set(p.name, p.up);
  }
  return out;
}

/** The health-checked subjects of every running service that has any, for /metrics. */
export function* healthSources(services: ReadonlyMap<string, Service>): Iterable<HealthSource> {
  for (const [name, service] of services) {
    if (service.health === undefined) continue;
    const subjects = service.health();
    if (subjects.length > 0) yield { service: name, subjects };
  }
}
