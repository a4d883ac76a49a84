import type { QuotaConfig } from '../config/schema.js';
import type { ByteBudget } from '../contracts/rate.js';

/**
 * A user's quota as the relay engine enforces it: an engine `ByteBudget` shared by the user's relays, plus what
 * accounting has counted of those relays. The engine limit is (counted) + (what is left of the quota): counting a
 * sample moves both terms by the same amount, so the limit changes only when the quota, the period or usage from
 * elsewhere (Redis, the ledger) changes, and a late engine counter never counts twice.
 */
export class QuotaBudget {
  readonly engine: ByteBudget;
  /** Bytes accounting has counted for relays started with this budget. */
  countedIn = 0;
  countedOut = 0;
  private limit = -1;
  private countIn = true;
  private countOut = true;

  constructor(engine: ByteBudget) {
    this.engine = engine;
  }

  count(bytesIn: number, bytesOut: number): void {
    this.countedIn += bytesIn;
    this.countedOut += bytesOut;
  }

  /** Tells the engine what is left of `quota` (`remaining` bytes); no call into the engine when nothing changed. */
  refresh(quota: QuotaConfig, remaining: number): void {
    const countIn = quota.direction !== 'out';
    const countOut = quota.direction !== 'in';
    const limit = (countIn ? this.countedIn : 0) + (countOut ? this.countedOut : 0) + Math.max(0, remaining);
    if (limit === this.limit && countIn === this.countIn && countOut === this.countOut) return;
    this.limit = limit;
    this.countIn = countIn;
    this.countOut = countOut;
    this.engine.set(limit, countIn, countOut);
  }

  /** The quota is gone: live relays holding the budget run unbounded, and the engine may free it. */
  release(): void {
    this.engine.set(Infinity, false, false);
    this.engine.dispose();
  }
}
