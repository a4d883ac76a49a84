import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import type { GatewayUsageRecord, RelayRecord } from '../contracts/records.js';
import type { ServiceStatus } from '../contracts/service-status.js';
import { ModelLabels } from '../accounting/model-labels.js';
import { formatHostPort } from '../util/address.js';

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const TTFB_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BREAKER_STATES = ['closed', 'open', 'half-open'];
const OTHER = 'other';

/**
 * Per channel, model and status: gateway request counts, latency and time-to-first-byte histograms, breaker state;
 * per forward target: up/down and bytes. Label values come only from the config (service, channel and target names,
 * model names by the rule of accounting/model-labels.ts: a client's other model names are `other`) and bounded sets
 * (status class, breaker state, direction), so label sets stay bounded whatever clients send.
 */
export class TrafficMetrics {
  private readonly config: () => Config;
  private targetsOf: Config | null = null;
  private targets: ReadonlyMap<string, ReadonlySet<string>> = new Map();
  private readonly models = new ModelLabels();
  private readonly requests: Counter<string>;
  private readonly latency: Histogram<string>;
  private readonly ttfb: Histogram<string>;
  /** Closed relays' bytes not yet in `tidegate_target_bytes_total`, by service and target: added at scrape time. */
  private readonly pendingBytes = new Map<string, Map<string, TargetBytes>>();

  constructor(registry: Registry, config: () => Config, statuses: () => readonly ServiceStatus[]) {
    this.config = config;
    this.requests = new Counter({
      name: 'tidegate_gateway_requests_total',
      help: 'Gateway requests by channel (none: no channel took it), model and status class',
      labelNames: ['service', 'channel', 'model', 'status'],
      registers: [registry],
    });
    this.latency = new Histogram({
      name: 'tidegate_gateway_request_duration_seconds',
      help: 'Gateway request latency, first request byte to last answer byte, by channel, model and status class',
      labelNames: ['service', 'channel', 'model', 'status'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    this.ttfb = new Histogram({
      name: 'tidegate_gateway_ttfb_seconds',
      help: 'Gateway time to the first answer byte from the channel, by channel and model',
      labelNames: ['service', 'channel', 'model'],
      buckets: TTFB_BUCKETS,
      registers: [registry],
    });
    const pendingBytes = this.pendingBytes;
    new Counter({
      name: 'tidegate_target_bytes_total',
      help: 'Bytes relayed to (out) and from (in) a forward target, counted when each relay closes',
      labelNames: ['service', 'target', 'direction'],
      registers: [registry],
      collect() {
        flushTargetBytes(this, pendingBytes);
      },
    });
    new Gauge({
      name: 'tidegate_gateway_breaker_state',
      help: 'A channel\'s circuit breaker: 1 on its current state (closed, open, half-open), 0 on the others',
      labelNames: ['service', 'channel', 'state'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of statuses()) {
          const channels = (s.detail as { channels?: unknown } | null)?.channels;
          if (s.type !== 'gateway' || !Array.isArray(channels)) continue;
          for (const c of channels as { name: string; breaker: { state: string } }[]) {
            for (const state of BREAKER_STATES) {
              this.set({ service: s.name, channel: c.name, state }, c.breaker.state === state ? 1 : 0);
            }
          }
        }
      },
    });
    new Gauge({
      name: 'tidegate_target_up',
      help: 'Whether a forward target is up (1) or down (0), checked or not',
      labelNames: ['service', 'target'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of statuses()) {
          const targets = (s.detail as { targets?: unknown } | null)?.targets;
          if (s.type !== 'forward' || s.state !== 'running' || !Array.isArray(targets)) continue;
          for (const t of targets as { address: string; up: boolean }[]) {
            this.set({ service: s.name, target: t.address }, t.up ? 1 : 0);
          }
        }
      },
    });
  }

  /** One finished gateway request. */
  gatewayRequest(r: GatewayUsageRecord): void {
    const channel = r.channel ?? 'none';
    this.models.use(this.config());
    const model = this.models.label(r.service, r.model);
    const status = statusClass(r.status);
    this.requests.labels(r.service, channel, model, status).inc();
    this.latency.labels(r.service, channel, model, status).observe(r.latencyMs / 1000);
    if (r.ttfbMs !== null && r.channel !== null) this.ttfb.labels(r.service, channel, model).observe(r.ttfbMs / 1000);
  }

  /** One closed relay: forward services' configured targets only (a proxy's destinations are the clients'). */
  relayClosed(r: RelayRecord): void {
    const targets = this.currentTargets().get(r.service);
    if (targets === undefined || !targets.has(r.target)) return;
    if (r.bytesIn === 0 && r.bytesOut === 0) return;
    // Once per connection: a plain sum here, the labelled children (hashing label sets) only at scrape time.
    let byTarget = this.pendingBytes.get(r.service);
    if (byTarget === undefined) {
      byTarget = new Map();
      this.pendingBytes.set(r.service, byTarget);
    }
    let sums = byTarget.get(r.target);
    if (sums === undefined) {
      sums = new TargetBytes(r.service, r.target);
      byTarget.set(r.target, sums);
    }
    sums.out += r.bytesIn;
    sums.in += r.bytesOut;
  }

  /** The targets of the config in force, rebuilt when a reload replaced it (configs are frozen, new per reload). */
  private currentTargets(): ReadonlyMap<string, ReadonlySet<string>> {
    const config = this.config();
    if (config !== this.targetsOf) {
      this.targetsOf = config;
      this.targets = targetsOf(config);
    }
    return this.targets;
  }
}

function targetsOf(config: Config): Map<string, Set<string>> {
  const targets = new Map<string, Set<string>>();
  for (const s of config.services) {
    if (s.type === 'forward') targets.set(s.name, new Set(s.targets.map((t) => formatHostPort(t))));
  }
  return targets;
}

/** A forward target's bytes of closed relays since the last scrape. */
class TargetBytes {
  readonly service: string;
  readonly target: string;
  out = 0;
  in = 0;

  constructor(service: string, target: string) {
    this.service = service;
    this.target = target;
  }
}

/** Adds the sums of closed relays to the counter (bounded: only configured targets get sums). */
function flushTargetBytes(counter: Counter<string>, pending: Map<string, Map<string, TargetBytes>>): void {
  for (const byTarget of pending.values()) {
    for (const sums of byTarget.values()) {
      if (sums.out > 0) counter.labels(sums.service, sums.target, 'out').inc(sums.out);
      if (sums.in > 0) counter.labels(sums.service, sums.target, 'in').inc(sums.in);
      sums.out = 0;
      sums.in = 0;
    }
  }
}

function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : OTHER;
}
