import type { RefusedReason } from '../contracts/accounting.js';

/** Model label values kept apart; later models are counted as `other` (labels stay bounded whatever clients send). */
export const MAX_MODELS = 64;

/** Tokens by class, cost and requests of one service, channel and model (this process). */
export class ModelMeter {
  readonly service: string;
  readonly channel: string;
  readonly model: string;
  requests = 0;
  input = 0;
  cacheRead = 0;
  cacheWrite = 0;
  output = 0;
  reasoning = 0;
  costMicros = 0;

  constructor(service: string, channel: string, model: string) {
    this.service = service;
    this.channel = channel;
    this.model = model;
  }
}

/**
 * Gateway usage per service, channel and model for `/metrics`. Channel and service names come from the config; model
 * names from requests, so only the first MAX_MODELS distinct ones get their own label value.
 */
export class ModelMeters {
  private readonly meters = new Map<string, ModelMeter>();
  private readonly models = new Set<string>();

  meter(service: string, channel: string | null, model: string | null): ModelMeter {
    const c = channel ?? 'none';
    let m = model ?? 'none';
    if (!this.models.has(m)) {
      if (this.models.size < MAX_MODELS) this.models.add(m);
      else m = 'other';
    }
    const key = `${service}\0${c}\0${m}`;
    let meter = this.meters.get(key);
    if (meter === undefined) {
      meter = new ModelMeter(service, c, m);
      this.meters.set(key, meter);
    }
    return meter;
  }

  values(): IterableIterator<ModelMeter> {
    return this.meters.values();
  }
}

/** Refusals per service and reason (service names from the config, reasons from RefusedReason). */
export class RefusalMeters {
  readonly counts = new Map<string, Map<RefusedReason, number>>();

  add(service: string, reason: RefusedReason): void {
    let byReason = this.counts.get(service);
    if (byReason === undefined) {
      byReason = new Map();
      this.counts.set(service, byReason);
    }
    byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
  }
}
