import type { RateLimit } from '../../contracts/rate.js';

/**
 * One direction's bucket: refills at `rate` bytes/s and holds at most one second's worth, so a fresh or idle
 * connection never bursts above a second of traffic. Relays may take more than is available (a chunk is already
 * read, at most 1/50 s of the rate: direction.ts sizes limited reads); the debt tells them how long to pause. The debt
 * includes every chunk taken before, so relays sharing the bucket read again in the order they took (the native
 * bucket books reservations for the same reason): the one that just read cannot win every turn and starve the others.
 */
export class TokenBucket {
  rate: number;
  tokens: number;
  private refilledAt: number;

  constructor(rate: number) {
    this.rate = rate;
    this.tokens = rate;
    this.refilledAt = performance.now();
  }

  setRate(rate: number): void {
    this.refill();
    this.rate = rate;
    if (this.tokens > rate) this.tokens = rate;
  }

  /** Takes `bytes`; returns how many ms the caller should pause before reading again (0 = go on). */
  take(bytes: number): number {
    if (this.rate <= 0) return 0;
    this.refill();
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.rate) * 1000);
  }

  private refill(): void {
    const now = performance.now();
    const added = ((now - this.refilledAt) / 1000) * this.rate;
    this.refilledAt = now;
    this.tokens = Math.min(this.rate, this.tokens + added);
  }
}

let nextLimitId = 1;

/** A pair of buckets shared by every JS relay started with it. */
export class JsRateLimit implements RateLimit {
  readonly id = nextLimitId++;
  readonly in: TokenBucket;
  readonly out: TokenBucket;
  disposed = false;

  constructor(inBytesPerSec: number, outBytesPerSec: number) {
    this.in = new TokenBucket(inBytesPerSec);
    this.out = new TokenBucket(outBytesPerSec);
  }

  set(inBytesPerSec: number, outBytesPerSec: number): void {
    this.in.setRate(inBytesPerSec);
    this.out.setRate(outBytesPerSec);
  }

  dispose(): void {
    this.disposed = true;
  }
}
