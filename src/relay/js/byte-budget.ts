import type { ByteBudget } from '../../contracts/rate.js';

let nextBudgetId = 1;

/**
 * The JS engine's quota budget (see `ByteBudget`): relays book what they pass on, per direction. A read cannot be
 * sized in Node, so a relay passes on the part of a chunk the budget allows and holds the rest, paused.
 */
export class JsByteBudget implements ByteBudget {
  readonly id = nextBudgetId++;
  /** Bytes read since creation: [client→target, target→client]. */
  readonly spent: [number, number] = [0, 0];
  private limit = Infinity;
  private readonly counts: [boolean, boolean] = [true, true];
  disposed = false;

  set(limit: number, countIn: boolean, countOut: boolean): void {
    this.limit = limit;
    this.counts[0] = countIn;
    this.counts[1] = countOut;
  }

  /** Books up to `bytes` of direction `dir`; returns how many may pass now (all of them when `dir` is not counted). */
  allow(dir: 0 | 1, bytes: number): number {
    let allowed = bytes;
    if (this.counts[dir]) {
      const left = this.limit - (this.counts[0] ? this.spent[0] : 0) - (this.counts[1] ? this.spent[1] : 0);
      allowed = left <= 0 ? 0 : Math.min(bytes, left);
    }
    this.spent[dir] += allowed;
    return allowed;
  }

  take(dir: 0 | 1, bytes: number): number {
    return this.allow(dir, bytes);
  }

  charge(dir: 0 | 1, bytes: number): void {
    this.spent[dir] += bytes;
  }

  /** Gives back bytes read but never delivered (queued in a socket that was torn down). */
  refund(dir: 0 | 1, bytes: number): void {
    this.spent[dir] -= Math.min(bytes, this.spent[dir]);
  }

  dispose(): void {
    this.disposed = true;
  }
}
