import type { Slotted, SlotList } from '../../util/slot-list.js';

/** A live exchange as the Watchdog sees it. */
export interface Watched extends Slotted {
  /** The request or the current attempt's first-byte deadline may have passed. */
  checkDeadlines(now: number): void;
}

/**
 * The gateway's request and first-byte deadlines, checked by one interval over the live exchanges instead of two
 * timers armed and cleared per request (a Timeout object each, and four timer-list operations). A deadline fires at
 * most one tick late; the tick is a tenth of the shorter timeout, between 5 and 100 ms. The interval runs only while
 * exchanges are live, and never keeps the process alive.
 */
export class Watchdog {
  private readonly live: SlotList<Watched>;
  private tickMs: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(live: SlotList<Watched>, firstByteTimeoutMs: number, requestTimeoutMs: number) {
    this.live = live;
    this.tickMs = tickFor(firstByteTimeoutMs, requestTimeoutMs);
  }

  /** A reload changed the timeouts: the next interval uses the new tick. */
  retune(firstByteTimeoutMs: number, requestTimeoutMs: number): void {
    const tick = tickFor(firstByteTimeoutMs, requestTimeoutMs);
    if (tick === this.tickMs) return;
    this.tickMs = tick;
    this.stop();
    if (this.live.size > 0) this.arm();
  }

  /** An exchange now has a deadline: make sure someone is watching. */
  arm(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(sweep, this.tickMs, this);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
  }

  sweep(): void {
    if (this.live.size === 0) {
      this.stop();
      return;
    }
    const now = performance.now();
    // Backwards: an exchange that times out leaves the list, and the member moved into its place was already checked.
    const live = this.live;
    for (let i = live.size - 1; i >= 0; i--) {
      if (i < live.size) live.at(i).checkDeadlines(now);
    }
  }
}

function sweep(watchdog: Watchdog): void {
  watchdog.sweep();
}

function tickFor(firstByteTimeoutMs: number, requestTimeoutMs: number): number {
  return Math.max(5, Math.min(100, Math.floor(Math.min(firstByteTimeoutMs, requestTimeoutMs) / 10)));
}
