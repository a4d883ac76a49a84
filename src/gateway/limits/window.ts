/** The window of a per-minute limit. */
export const WINDOW_MS = 60_000;

/**
 * A sliding-window counter: this minute's count plus the last minute's, weighted by how much of it the sliding
 * minute still covers. Chosen over GCRA because token limits are booked after the answer (a request reserves its
 * worst case, settlement adds the difference), which a window takes as a plain addition; two numbers per limit, and
 * the same two counters work as Redis keys for shared limits.
 */
export class SlidingWindow {
  start = 0;
  current = 0;
  previous = 0;

  private roll(now: number): void {
    const start = now - (now % WINDOW_MS);
    if (start === this.start) return;
    this.previous = start - this.start === WINDOW_MS ? this.current : 0;
    this.current = 0;
    this.start = start;
  }

  /** The count over the minute before `now`. */
  estimate(now: number): number {
    this.roll(now);
    return Math.max(0, this.previous * (1 - (now - this.start) / WINDOW_MS) + this.current);
  }

  add(n: number, now: number): void {
    this.roll(now);
    this.current += n;
  }

  /** Milliseconds until the count leaves room for `need` under `limit` (0: now). */
  waitMs(now: number, need: number, limit: number): number {
    this.roll(now);
    const into = now - this.start;
    const room = limit - need - this.current;
    if (room >= 0) {
      if (this.previous <= room) return 0;
      return Math.max(0, Math.ceil(WINDOW_MS * (1 - room / this.previous)) - into);
    }
    // Not before the next window, once enough of this one has slid out.
    const next = WINDOW_MS - into;
    return next + Math.ceil(WINDOW_MS * Math.max(0, 1 - (limit - need) / this.current));
  }
}
