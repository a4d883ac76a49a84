import type { ByteBudget } from '../engine.js';

let nextBudgetId = 1;

/**
 * The JS engine's quota budget (see `ByteBudget`): relays add what they read, per direction, and stop reading once
 * the counted directions reach the limit. A read cannot be sized in Node, so a relay overshoots by at most the chunk
 * that crossed the limit (≤ 64 KiB).
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

  /** Books `bytes` read in direction `dir`; false when that direction must wait (its counted total is used up). */
  take(dir: 0 | 1, bytes: number): boolean {
    this.spent[dir] += bytes;
    return this.open(dir);
  }

  /** Gives back bytes read but never delivered (queued in a socket that was torn down). */
  refund(dir: 0 | 1, bytes: number): void {
    this.spent[dir] -= Math.min(bytes, this.spent[dir]);
  }

  /** Whether direction `dir` may read more. */
  open(dir: 0 | 1): boolean {
    if (!this.counts[dir]) return true;
    const counted = (this.counts[0] ? this.spent[0] : 0) + (this.counts[1] ? this.spent[1] : 0);
    return counted < this.limit;
  }

  dispose(): void {
    this.disposed = true;
  }
}
