/**
 * Rate and byte-budget handles an engine makes and relays share; accounting owns them and sets their limits.
 */

/** Token buckets shared by every relay of one user (or service): N connections share one limit. */
export interface RateLimit {
  readonly id: number;
  /** Bytes per second for client→target (`in`) and target→client (`out`); 0 means unlimited. */
  set(inBytesPerSec: number, outBytesPerSec: number): void;
  /** Releases the buckets once no relay uses them. */
  dispose(): void;
}

/**
 * A user's byte quota inside the engine, shared by every relay started with it. The relays move bytes of the counted
 * direction(s) until their total since the budget was created reaches `limit`; then those directions wait (no byte
 * more is read) until the limit is raised or the relay is closed. Reads are sized to what is left, so an engine
 * overshoots by at most one read per relay. Accounting sets the limit as (bytes it has counted for these relays) +
 * (what is left of the quota): counters that reach accounting late never count twice.
 */
export interface ByteBudget {
  readonly id: number;
  /** `limit`: bytes in total since creation, Infinity for none; `countIn`/`countOut`: which directions count. */
  set(limit: number, countIn: boolean, countOut: boolean): void;
  /**
   * For bytes moved outside the engine's relays (the plain HTTP proxy): books up to `bytes` of direction `dir` (0:
   * client→target, 1: target→client) and returns how many may pass (all of them when `dir` is not counted).
   */
  take(dir: 0 | 1, bytes: number): number;
  /** Books bytes already moved outside the engine that could not be sized beforehand (message heads, framing). */
  charge(dir: 0 | 1, bytes: number): void;
  /** Releases the budget once no relay uses it (relays holding it keep its last limit). */
  dispose(): void;
}
