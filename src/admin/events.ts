import type { ServerResponse } from 'node:http';
import type { LiveEvent } from '../contracts/admin-api.js';

/** Bytes a subscriber may have unsent before it is dropped: a slow reader never makes the process buffer more. */
export const MAX_SUBSCRIBER_BUFFER = 256 * 1024;
/** A comment line this often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

/** Polled state that has no event of its own (service and target health). */
export interface Watch {
  check(): void;
  /** Nobody listens any more: the next check starts from a new baseline. */
  reset(): void;
}

interface Subscriber {
  readonly res: ServerResponse;
}

/**
 * Server-sent events for `GET /events`. Nothing is built or kept when nobody listens: `publish` returns at once and
 * the `watch` callback (which polls service and target state) only runs while someone subscribes. Each subscriber's
 * unsent bytes are bounded; one that falls behind is disconnected, the others never wait for it.
 */
export class EventHub {
  private readonly subscribers = new Set<Subscriber>();
  private seq = 0;
  private heartbeat: NodeJS.Timeout | null = null;
  private watcher: NodeJS.Timeout | null = null;
  private readonly watch: Watch;
  private readonly watchMs: number;
  private readonly check: () => void;
  dropped = 0;

  /** `watch` runs every `watchMs` while anyone subscribes (to notice state that has no event of its own). */
  constructor(watch: Watch, watchMs = 1_000) {
    this.watch = watch;
    this.watchMs = watchMs;
    this.check = () => watch.check();
  }

  get size(): number {
    return this.subscribers.size;
  }

  /** True when an event would reach someone: callers skip building its data otherwise. */
  get listening(): boolean {
    return this.subscribers.size > 0;
  }

  publish(type: string, data: unknown): void {
    if (this.subscribers.size === 0) return;
    const event: LiveEvent = { type, at: new Date().toISOString(), ...(data as object) };
    const json = JSON.stringify(event);
    const frame = `id: ${++this.seq}\nevent: ${type}\ndata: ${json}\n\n`;
    for (const sub of this.subscribers) this.send(sub, frame);
  }

  /** Takes a response over as an event stream until the client goes away. */
  subscribe(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    res.write(': tidegate events\n\n');
    const sub: Subscriber = { res };
    this.subscribers.add(sub);
    const hub = this;
    res.on('close', function eventSubscriberGone() {
      hub.remove(sub);
    });
    if (this.heartbeat === null) {
      this.heartbeat = setInterval(() => {
        for (const s of this.subscribers) this.send(s, ': heartbeat\n\n');
      }, HEARTBEAT_MS);
      this.heartbeat.unref();
      this.watcher = setInterval(this.check, this.watchMs);
      this.watcher.unref();
      // The state the first subscriber sees changes against.
      this.watch.check();
    }
  }

  /** Ends every stream (shutdown). */
  close(): void {
    for (const sub of [...this.subscribers]) {
      sub.res.end();
      this.remove(sub);
    }
  }

  private send(sub: Subscriber, frame: string): void {
    if (sub.res.writableLength + frame.length > MAX_SUBSCRIBER_BUFFER) {
      this.dropped++;
      this.remove(sub);
      sub.res.destroy();
      return;
    }
    sub.res.write(frame);
  }

  private remove(sub: Subscriber): void {
    if (!this.subscribers.delete(sub) || this.subscribers.size > 0) return;
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    if (this.watcher !== null) clearInterval(this.watcher);
    this.heartbeat = null;
    this.watcher = null;
    this.watch.reset();
  }
}
