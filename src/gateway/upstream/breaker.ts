import type { GatewayServiceConfig } from '../../config/schema.js';

export type BreakerState = 'closed' | 'open' | 'half-open';
export type BreakerSettings = GatewayServiceConfig['breaker'];

/**
 * Per-channel circuit breaker. Closed: counts outcomes in a fixed window and opens on `consecutiveFailures` in a
 * row, or when the window holds at least `minRequests` with a failure share ≥ `errorRatio`. Open: refuses until
 * `openMs` (or the upstream's Retry-After) has passed. Half-open: lets `halfOpenProbes` requests through at once;
 * a probe that succeeds closes it, one that fails opens it again. Time is checked lazily: no timers.
 */
export class CircuitBreaker {
  private settings: BreakerSettings;
  state: BreakerState = 'closed';
  consecutiveFailures = 0;
  windowStart = 0;
  windowRequests = 0;
  windowFailures = 0;
  openUntil = 0;
  probesInFlight = 0;
  opened = 0;
  lastReason: string | null = null;

  constructor(settings: BreakerSettings) {
    this.settings = settings;
  }

  reconfigure(settings: BreakerSettings): void {
    this.settings = settings;
  }

  /** Whether a request may go to this channel now (half-open: only while probe slots are free). Does not reserve. */
  allows(now: number): boolean {
    if (this.state === 'closed') return true;
    if (this.state === 'open') {
      if (now < this.openUntil) return false;
      this.state = 'half-open';
      this.probesInFlight = 0;
    }
    return this.probesInFlight < this.settings.halfOpenProbes;
  }

  /** Called when a request is sent to the channel; takes a probe slot when half-open. */
  onDispatch(): boolean {
    if (this.state === 'half-open') {
      this.probesInFlight++;
      return true;
    }
    return false;
  }

  onSuccess(now: number, probe: boolean): void {
    if (probe && this.probesInFlight > 0) this.probesInFlight--;
    this.consecutiveFailures = 0;
    if (this.state === 'half-open') this.close(now);
    else if (this.state === 'closed') this.count(now, false);
  }

  /** `retryAfterMs` (from a 429's Retry-After) opens the circuit for at least that long. */
  onFailure(now: number, probe: boolean, reason: string, retryAfterMs: number | null): void {
    if (probe && this.probesInFlight > 0) this.probesInFlight--;
    this.lastReason = reason;
    this.consecutiveFailures++;
    if (retryAfterMs !== null && retryAfterMs > 0) {
      this.open(now, retryAfterMs);
      return;
    }
    if (this.state === 'half-open') {
      this.open(now, this.settings.openMs);
      return;
    }
    if (this.state === 'open') return;
    this.count(now, true);
    const s = this.settings;
    if (this.consecutiveFailures >= s.consecutiveFailures) {
      this.open(now, s.openMs);
    } else if (this.windowRequests >= s.minRequests && this.windowFailures / this.windowRequests >= s.errorRatio) {
      this.open(now, s.openMs);
    }
  }

  /** Releases a probe slot for a request that ended without telling anything about the channel (client abort). */
  onAbandon(probe: boolean): void {
    if (probe && this.probesInFlight > 0) this.probesInFlight--;
  }

  private count(now: number, failed: boolean): void {
    if (now - this.windowStart >= this.settings.windowMs) {
      this.windowStart = now;
      this.windowRequests = 0;
      this.windowFailures = 0;
    }
    this.windowRequests++;
    if (failed) this.windowFailures++;
  }

  private open(now: number, forMs: number): void {
    this.state = 'open';
    this.openUntil = Math.max(this.openUntil, now + forMs);
    this.probesInFlight = 0;
    this.opened++;
  }

  private close(now: number): void {
    this.state = 'closed';
    this.consecutiveFailures = 0;
    this.windowStart = now;
    this.windowRequests = 0;
    this.windowFailures = 0;
    this.openUntil = 0;
    this.probesInFlight = 0;
  }

  snapshot(now: number): Record<string, unknown> {
    // Report the state a request would see now (an elapsed open window reads as half-open).
    const state = this.state === 'open' && now >= this.openUntil ? 'half-open' : this.state;
    return {
      state,
      consecutiveFailures: this.consecutiveFailures,
      windowRequests: this.windowRequests,
      windowFailures: this.windowFailures,
      openForMs: state === 'open' ? this.openUntil - now : 0,
      timesOpened: this.opened,
      lastFailure: this.lastReason,
    };
  }
}
