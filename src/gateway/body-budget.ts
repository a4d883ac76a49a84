import type { GatewayLimitsConfig } from '../config/schema.js';

/**
 * The process-wide budget for gateway request bodies in memory (`gateway.bodyBudget`), shared by every gateway
 * service of the runtime, and how long a body may take to arrive (`gateway.bodyTimeout`). A body is charged before
 * it is read when its length is declared, else chunk by chunk as it grows; its exchange gives the charge back once,
 * when it ends (however it ends). Two integer updates per request: nothing on the per-chunk path of declared bodies.
 */
export class BodyBudget {
  limit: number;
  timeoutMs: number;
  /** Bytes charged by live requests. */
  used = 0;
  /** Highest `used` seen. */
  peak = 0;
  /** Requests refused because the budget was used up (503). */
  refused = 0;
  /** Bodies that did not arrive within `timeoutMs` (408). */
  timedOut = 0;

  constructor(config: GatewayLimitsConfig) {
    this.limit = config.bodyBudgetBytes;
    this.timeoutMs = config.bodyTimeoutMs;
  }

  /** A reload: new requests see the new limits; charges already taken stay until they are given back. */
  retune(config: GatewayLimitsConfig): void {
    this.limit = config.bodyBudgetBytes;
    this.timeoutMs = config.bodyTimeoutMs;
  }

  /** Takes `bytes` from the budget; false (and nothing taken) when they do not fit. */
  charge(bytes: number): boolean {
    const next = this.used + bytes;
    if (next > this.limit) {
      this.refused++;
      return false;
    }
    this.used = next;
    if (next > this.peak) this.peak = next;
    return true;
  }

  release(bytes: number): void {
    this.used -= bytes;
  }

  /** Seconds a refused client should wait: bodies in flight finish or time out within `timeoutMs`. */
  retryAfterSeconds(): number {
    return Math.max(1, Math.min(30, Math.ceil(this.timeoutMs / 10_000)));
  }

  snapshot(): { limit: number; used: number; peak: number; refused: number; timedOut: number; timeoutMs: number } {
    return {
      limit: this.limit, used: this.used, peak: this.peak, refused: this.refused, timedOut: this.timedOut,
      timeoutMs: this.timeoutMs,
    };
  }
}
