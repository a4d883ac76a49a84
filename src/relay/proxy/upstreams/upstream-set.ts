import type { Socket } from 'node:net';
import type { ProxyServiceConfig } from '../../../config/types.js';
import type { HealthSnapshot } from '../../../contracts/health.js';
import type { DialOptions } from '../../../contracts/relay-engine.js';
import type { HealthCheck } from '../../../health/health-check.js';
import type { Logger } from '../../../log.js';
import type { Destination } from '../socks5.js';
import { UpstreamGroup } from './upstream-group.js';
import { isDestinationRefusal, publicUrl, UpstreamProxy, type UpstreamRoute } from './upstream-proxy.js';

/** The service's own `upstream:` URL: dialled as before, never probed (there is nothing else to pick). */
const UNPROBED = { intervalMs: 0, timeoutMs: 0, rise: 1, fall: 1 } as const;

/**
 * A proxy service's upstreams: the unnamed `upstream:` URL and the named `upstreams` (proxies and groups). Probes run
 * while the service runs; a reload keeps each proxy whose name and URL stay (its health and counters carry over).
 */
export class UpstreamSet {
  private readonly service: string;
  private readonly log: Logger;
  private fallback: UpstreamProxy | null = null;
  private proxies = new Map<string, UpstreamProxy>();
  private routes = new Map<string, UpstreamRoute>();
  private groups: UpstreamGroup[] = [];
  private running = false;
  private readonly changedBound: (check: HealthCheck, up: boolean) => void;

  constructor(service: string, log: Logger) {
    this.service = service;
    this.log = log;
    this.changedBound = this.changed.bind(this);
  }

  configure(config: ProxyServiceConfig): void {
    const url = config.upstream;
    if (url === null) this.fallback = null;
    else if (this.fallback === null || this.fallback.url.href !== url.href) {
      this.fallback = new UpstreamProxy('upstream', url, UNPROBED, null);
    }
    const proxies = new Map<string, UpstreamProxy>();
    const routes = new Map<string, UpstreamRoute>();
    for (const u of config.upstreams) {
      if (u.kind !== 'proxy') continue;
      const old = this.proxies.get(u.name);
      const proxy = old !== undefined && old.url.href === u.url.href
        ? old
        : new UpstreamProxy(u.name, u.url, u.check, this.changedBound);
      proxy.health.configure(u.check);
      proxies.set(u.name, proxy);
      routes.set(u.name, proxy);
    }
    const groups: UpstreamGroup[] = [];
    for (const u of config.upstreams) {
      if (u.kind !== 'group') continue;
      const group = new UpstreamGroup(u.name, u.members.map((m) => proxies.get(m)!), u.strategy);
      groups.push(group);
      routes.set(u.name, group);
    }
    for (const [name, old] of this.proxies) if (proxies.get(name) !== old) old.health.stop();
    this.proxies = proxies;
    this.routes = routes;
    this.groups = groups;
    if (this.running) for (const p of proxies.values()) p.health.start();
  }

  start(): void {
    this.running = true;
    for (const p of this.proxies.values()) p.health.start();
  }

  stop(): void {
    this.running = false;
    for (const p of this.proxies.values()) p.health.stop();
  }

  /** The named upstream or group, or (null) the service's `upstream:`; null when there is none. */
  route(name: string | null): UpstreamRoute | null {
    return name === null ? this.fallback : this.routes.get(name) ?? null;
  }

  /** A named proxy (tests and the admin API). */
  proxy(name: string): UpstreamProxy | null {
    return this.proxies.get(name) ?? null;
  }

  snapshots(): HealthSnapshot[] {
    const out: HealthSnapshot[] = [];
    for (const p of this.proxies.values()) out.push(p.health.snapshot());
    return out;
  }

  /** For /status: every named proxy with its health and counters, and every group with its members. */
  status(): { proxies: Record<string, unknown>[]; groups: Record<string, unknown>[] } {
    const proxies: Record<string, unknown>[] = [];
    for (const p of this.proxies.values()) {
      const h = p.health.snapshot();
      proxies.push({
        name: p.name, url: publicUrl(p.url), up: h.up, probed: h.probed, rise: h.rise, fall: h.fall, streak: h.streak,
        checks: h.checks, failedChecks: h.failedChecks, downs: h.downs, lastError: h.lastError, changedAt: h.changedAt,
        opened: p.opened, failed: p.failed,
      });
    }
    const groups = this.groups.map((g) => ({
      name: g.name, strategy: g.strategy, members: g.members.map((m) => m.name), up: g.up,
    }));
    return { proxies, groups };
  }

  private changed(check: HealthCheck, up: boolean): void {
    const fields = { service: this.service, upstream: check.name, address: check.address, error: check.lastError };
    if (up) this.log.info(fields, 'upstream proxy is up');
    else this.log.warn(fields, 'upstream proxy is down');
  }
}

/**
 * A tunnel to `dest` through the route's proxies in its order: a proxy that cannot be reached (or fails its
 * handshake) is counted against its health and the next is tried; a refusal of the destination ends the attempt.
 */
export async function tunnelVia(
  route: UpstreamRoute, dest: Destination, options: DialOptions, handshakeTimeoutMs: number, abort: AbortSignal,
): Promise<Socket> {
  const order = route.order();
  let last: Error | null = null;
  for (const proxy of order) {
    try {
      return await proxy.tunnel(dest, options, handshakeTimeoutMs, abort);
    } catch (err) {
      last = err as Error;
      if (abort.aborted || isDestinationRefusal(last)) throw last;
    }
  }
  throw last ?? new Error(`upstream "${route.name}" has no proxies`);
}
