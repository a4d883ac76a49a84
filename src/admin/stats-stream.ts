import type { ServerResponse } from 'node:http';
import { MAX_SUBSCRIBER_BUFFER } from './events.js';

/** One tick: a compact sample (kept for history) and the full state of the moment (sent, not kept). */
export interface StatsTick {
  readonly sample: unknown;
  readonly detail: unknown;
}

/** Samples kept: 15 minutes at one a second. */
export const STATS_HISTORY = 900;

/**
 * `GET /stats/stream`: server-sent events, one `stats` frame a second with the tick's sample and detail, after a
 * `history` frame with the samples kept so far. Like the event hub, nothing runs while nobody listens: the timer
 * starts with the first subscriber and stops with the last, so history covers the time someone watched (at most
 * the last 15 minutes). Each tick is serialized once for every subscriber; a subscriber that falls behind is dropped.
 */
export class StatsStream {
  private readonly subscribers = new Set<ServerResponse>();
  private readonly history: unknown[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly tickOnce: () => void;
  private readonly periodMs: number;
  dropped = 0;

  constructor(source: () => StatsTick, periodMs = 1_000) {
    this.periodMs = periodMs;
    const stream = this;
    this.tickOnce = function statsTick(): void {
      stream.tick(source());
    };
  }

  get size(): number {
    return this.subscribers.size;
  }

  subscribe(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    res.write(`event: history\ndata: ${JSON.stringify({ periodMs: this.periodMs, samples: this.history })}\n\n`);
    this.subscribers.add(res);
    const stream = this;
    res.on('close', function statsSubscriberGone() {
      stream.remove(res);
    });
    if (this.timer === null) {
      this.timer = setInterval(this.tickOnce, this.periodMs);
      this.timer.unref();
      this.tickOnce();
    }
  }

  /** Ends every stream (shutdown). */
  close(): void {
    for (const res of [...this.subscribers]) {
      res.end();
      this.remove(res);
    }
  }

  private tick(tick: StatsTick): void {
    this.history.push(tick.sample);
    if (this.history.length > STATS_HISTORY) this.history.shift();
    const frame = `event: stats\ndata: ${JSON.stringify(tick)}\n\n`;
    for (const res of this.subscribers) {
      if (res.writableLength + frame.length > MAX_SUBSCRIBER_BUFFER) {
        this.dropped++;
        this.remove(res);
        res.destroy();
        continue;
      }
      res.write(frame);
    }
  }

  private remove(res: ServerResponse): void {
    if (!this.subscribers.delete(res) || this.subscribers.size > 0) return;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
