import type { RefusedReason } from '../contracts/accounting.js';

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
 * Gateway usage per service, channel and model for `/metrics`. Channel and service names come from the config; the
 * model is a label value already (model-labels.ts: configured names, else `other`).
 */
export class ModelMeters {
  /** service → channel → model → meter: three lookups of names the request already holds, no key to build. */
  private readonly meters = new Map<string, Map<string, Map<string, ModelMeter>>>();

  meter(service: string, channel: string | null, modelLabel: string): ModelMeter {
    const c = channel ?? 'none';
    let byChannel = this.meters.get(service);
    if (byChannel === undefined) this.meters.set(service, byChannel = new Map());
    let byModel = byChannel.get(c);
    if (byModel === undefined) byChannel.set(c, byModel = new Map());
    let meter = byModel.get(modelLabel);
    if (meter === undefined) {
      meter = new ModelMeter(service, c, modelLabel);
      byModel.set(modelLabel, meter);
    }
    return meter;
  }

  *values(): IterableIterator<ModelMeter> {
    for (const byChannel of this.meters.values()) {
      for (const byModel of byChannel.values()) yield* byModel.values();
    }
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
