/** Failures from one address answered at once; later ones wait, doubling from BASE_DELAY_MS up to MAX_DELAY_MS. */
const FREE_FAILURES = 3;
const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 8_000;
/** An address that has not failed for this long starts over. */
const FORGET_AFTER_MS = 15 * 60_000;
/** Addresses tracked at once; beyond it the oldest are forgotten (bounded memory under a spray of addresses). */
const MAX_ADDRESSES = 10_000;

interface Failures {
  count: number;
  last: number;
}

/**
 * Wrong proxy credentials, counted per client address: after a few, the refusal is delayed by a growing, bounded
 * back-off, so guessing passwords from one address gets slow. A success from the address clears its count.
 */
export class FailureThrottle {
  private readonly byAddress = new Map<string, Failures>();
  /** Failed logins in all. */
  failed = 0;
  /** Refusals that were delayed. */
  slowed = 0;

  /** Counts a failure from `address`; returns how long to wait before answering (0: at once). */
  failure(address: string, now = Date.now()): number {
    this.failed++;
    let entry = this.byAddress.get(address);
    if (entry !== undefined && now - entry.last > FORGET_AFTER_MS) entry.count = 0;
    if (entry === undefined) {
      if (this.byAddress.size >= MAX_ADDRESSES) this.forgetOldest();
      entry = { count: 0, last: now };
      this.byAddress.set(address, entry);
    } else {
      // Kept in insertion order by last failure, so the first entry is the one to forget.
      this.byAddress.delete(address);
      this.byAddress.set(address, entry);
    }
    entry.count++;
    entry.last = now;
    if (entry.count <= FREE_FAILURES) return 0;
    this.slowed++;
    return Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.min(16, entry.count - FREE_FAILURES - 1));
  }

  success(address: string): void {
    if (this.byAddress.size > 0) this.byAddress.delete(address);
  }

  get tracked(): number {
    return this.byAddress.size;
  }

  private forgetOldest(): void {
    const oldest = this.byAddress.keys().next();
    if (oldest.done !== true) this.byAddress.delete(oldest.value);
  }
}
