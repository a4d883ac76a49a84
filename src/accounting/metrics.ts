import type { RefusedReason } from '../contracts/accounting.js';
import type { ModelMeter } from './model-meters.js';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Counters } from './delta.js';
import type { Subject, UserAccount } from './subject.js';

/** What the metrics read at scrape time; nothing is incremented on the traffic path. */
export interface MetricsSource {
  users(): Iterable<UserAccount>;
  services(): Iterable<Subject>;
  syncCounts(): { readonly ok: number; readonly failed: number; readonly pending: number };
  redisUp(): number | null;
  remaining(user: UserAccount): number | null;
  /** Gateway requests booked with no price for their model. */
  unpriced(): number;
  /** Gateway usage per service, channel and model (a bounded model set). */
  models(): Iterable<ModelMeter>;
  /** Refusals per service and reason. */
  refusals(): ReadonlyMap<string, ReadonlyMap<RefusedReason, number>>;
}

/**
 * Prometheus metrics of accounting. Label values are user ids and service names from the config only (subjects are
 * created from the config and dropped on reload), so label sets stay bounded whatever clients send.
 */
export function accountingMetrics(source: MetricsSource, registry = new Registry()): Registry {
  const byUser = (name: string, help: string, read: (c: Counters) => number): void => {
    new Counter({
      name, help, labelNames: ['user'], registers: [registry],
      collect() {
        this.reset();
        for (const u of source.users()) this.inc({ user: u.id }, Math.max(0, read(u.live)));
      },
    });
  };
  const byService = (name: string, help: string, read: (c: Counters) => number): void => {
    new Counter({
      name, help, labelNames: ['service'], registers: [registry],
      collect() {
        this.reset();
        for (const s of source.services()) this.inc({ service: s.id }, Math.max(0, read(s.live)));
      },
    });
  };
  new Counter({
    name: 'tidegate_user_bytes_total',
    help: 'Bytes relayed for a user by this process (in: client to target, out: target to client)',
    labelNames: ['user', 'direction'], registers: [registry],
    collect() {
      this.reset();
      for (const u of source.users()) {
        this.inc({ user: u.id, direction: 'in' }, Math.max(0, u.live.bytesIn));
        this.inc({ user: u.id, direction: 'out' }, Math.max(0, u.live.bytesOut));
      }
    },
  });
  byUser('tidegate_user_connections_total', 'Connections relayed for a user by this process', (c) => c.connections);
  byUser('tidegate_user_requests_total', 'Gateway requests of a user served by this process', (c) => c.requests);
  byUser('tidegate_user_tokens_total', 'LLM tokens of a user counted by this process', (c) => c.tokens);
  const classes = (name: string, help: string, label: 'user' | 'service', list: () => Iterable<Subject>): void => {
    new Counter({
      name, help, labelNames: [label, 'class'], registers: [registry],
      collect() {
        this.reset();
        for (const s of list()) {
          const c = s.live;
          if (c.tokens === 0) continue;
          this.inc({ [label]: s.id, class: 'input' }, c.inputTokens);
          this.inc({ [label]: s.id, class: 'cache_read' }, c.cacheReadTokens);
          this.inc({ [label]: s.id, class: 'cache_write' }, c.cacheWriteTokens);
          this.inc({ [label]: s.id, class: 'output' }, c.outputTokens);
          this.inc({ [label]: s.id, class: 'reasoning' }, c.reasoningTokens);
        }
      },
    });
  };
  classes('tidegate_user_tokens_by_class_total', 'LLM tokens of a user by class (input without cache, cache_read, '
    + 'cache_write, output without reasoning, reasoning), this process', 'user', () => source.users());
  classes('tidegate_service_tokens_by_class_total', 'LLM tokens of a service by class, this process', 'service',
    () => source.services());
  byUser('tidegate_user_cost_micros_total', 'Cost of a user\'s requests in millionths of the price currency',
    (c) => c.costMicros);
  new Counter({
    name: 'tidegate_user_refused_total', help: 'Connections and requests of a user refused for quota',
    labelNames: ['user'], registers: [registry],
    collect() {
      this.reset();
      for (const u of source.users()) this.inc({ user: u.id }, u.refused);
    },
  });
  new Gauge({
    name: 'tidegate_user_quota_remaining_bytes', help: 'Bytes left in the current quota period (users with a quota)',
    labelNames: ['user'], registers: [registry],
    collect() {
      this.reset();
      for (const u of source.users()) {
        const remaining = source.remaining(u);
        if (remaining !== null) this.set({ user: u.id }, remaining);
      }
    },
  });
  new Gauge({
    name: 'tidegate_user_live_connections', help: 'Live relays of a user', labelNames: ['user'], registers: [registry],
    collect() {
      this.reset();
      for (const u of source.users()) this.set({ user: u.id }, u.relays.size);
    },
  });
  new Counter({
    name: 'tidegate_service_bytes_total', help: 'Bytes relayed by a service in this process',
    labelNames: ['service', 'direction'], registers: [registry],
    collect() {
      this.reset();
      for (const s of source.services()) {
        this.inc({ service: s.id, direction: 'in' }, Math.max(0, s.live.bytesIn));
        this.inc({ service: s.id, direction: 'out' }, Math.max(0, s.live.bytesOut));
      }
    },
  });
  byService(
    'tidegate_service_connections_total', 'Connections relayed by a service in this process', (c) => c.connections,
  );
  byService('tidegate_service_requests_total', 'Requests served by a service in this process', (c) => c.requests);
  byService('tidegate_service_tokens_total', 'LLM tokens counted by a service in this process', (c) => c.tokens);
  byService('tidegate_service_cost_micros_total', 'Cost of a service\'s requests in millionths of the price currency',
    (c) => c.costMicros);
  new Counter({
    name: 'tidegate_unpriced_requests_total', help: 'Gateway requests of a model with no price (booked at cost 0)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(source.unpriced());
    },
  });
  new Counter({
    name: 'tidegate_refused_total',
    help: 'Connections and requests refused, by service and reason (quota_exceeded, rate_limited, ...)',
    labelNames: ['service', 'reason'], registers: [registry],
    collect() {
      this.reset();
      for (const [service, byReason] of source.refusals()) {
        for (const [reason, n] of byReason) this.inc({ service, reason }, n);
      }
    },
  });
  new Counter({
    name: 'tidegate_gateway_model_tokens_total',
    help: 'LLM tokens by service, channel, model (configured names, else "other") and class, this process',
    labelNames: ['service', 'channel', 'model', 'class'], registers: [registry],
    collect() {
      this.reset();
      for (const m of source.models()) {
        const l = { service: m.service, channel: m.channel, model: m.model };
        this.inc({ ...l, class: 'input' }, m.input);
        this.inc({ ...l, class: 'cache_read' }, m.cacheRead);
        this.inc({ ...l, class: 'cache_write' }, m.cacheWrite);
        this.inc({ ...l, class: 'output' }, m.output);
        this.inc({ ...l, class: 'reasoning' }, m.reasoning);
      }
    },
  });
  new Counter({
    name: 'tidegate_gateway_model_cost_micros_total',
    help: 'Cost by service, channel and model in millionths of the price currency, this process',
    labelNames: ['service', 'channel', 'model'], registers: [registry],
    collect() {
      this.reset();
      for (const m of source.models()) {
        this.inc({ service: m.service, channel: m.channel, model: m.model }, m.costMicros);
      }
    },
  });
  new Counter({
    name: 'tidegate_gateway_model_requests_total',
    help: 'Gateway requests booked with usage, by service, channel and model, this process',
    labelNames: ['service', 'channel', 'model'], registers: [registry],
    collect() {
      this.reset();
      for (const m of source.models()) this.inc({ service: m.service, channel: m.channel, model: m.model }, m.requests);
    },
  });
  new Counter({
    name: 'tidegate_ledger_syncs_total', help: 'Ledger flush transactions by result', labelNames: ['result'],
    registers: [registry],
    collect() {
      this.reset();
      const s = source.syncCounts();
      this.inc({ result: 'ok' }, s.ok);
      this.inc({ result: 'failed' }, s.failed);
    },
  });
  new Gauge({
    name: 'tidegate_ledger_pending_subjects', help: 'Users and services with deltas not yet in the ledger',
    registers: [registry],
    collect() {
      this.set(source.syncCounts().pending);
    },
  });
  new Gauge({
    name: 'tidegate_redis_up',
    help: '1 when the shared Redis counter store is connected, 0 when down (absent without Redis)',
    registers: [registry],
    collect() {
      this.reset();
      const up = source.redisUp();
      if (up !== null) this.set(up);
    },
  });
  return registry;
}
