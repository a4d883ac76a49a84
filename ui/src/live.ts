// What the page knows live: two streams (GET /stats/stream once a second, GET /events as things happen), nothing
// polled. Views subscribe and re-render on change.
import { useEffect, useState } from 'preact/hooks';
import type { Api } from './api.js';
import type { LiveEvent, StatsSample, StatusBody } from './types.js';

/** Per-second rates of one service, oldest first (what the sparklines draw). */
export interface Series {
  readonly t: number[];
  readonly live: number[];
  readonly inRate: number[];
  readonly outRate: number[];
  readonly reqRate: number[];
}

const KEEP = 900;
const KEEP_EVENTS = 500;

export class Live {
  status: StatusBody | null = null;
  statsUp = false;
  eventsUp = false;
  readonly series = new Map<string, Series>();
  readonly events: LiveEvent[] = [];
  /** Bumped on every change: views compare it to know they are stale. */
  version = 0;
  private last: StatsSample | null = null;
  private readonly listeners = new Set<() => void>();
  private readonly stops: (() => void)[] = [];

  start(api: Api): void {
    this.stops.push(api.follow('/stats/stream', (type, data) => this.onStats(type, data), (up) => {
      this.statsUp = up;
      this.changed();
    }));
    this.stops.push(api.follow('/events', (type, data) => this.onEvent(type, data as LiveEvent), (up) => {
      this.eventsUp = up;
      this.changed();
    }));
  }

  stop(): void {
    for (const stop of this.stops.splice(0)) stop();
  }

  listen(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    this.version++;
    for (const fn of this.listeners) fn();
  }

  private onStats(type: string, data: unknown): void {
    if (type === 'history') {
      // A (re)connect: start the series again from what the server kept.
      this.series.clear();
      this.last = null;
      for (const sample of (data as { samples: StatsSample[] }).samples) this.add(sample);
    } else if (type === 'stats') {
      const tick = data as { sample: StatsSample; detail: StatusBody };
      this.add(tick.sample);
      this.status = tick.detail;
    }
    this.changed();
  }

  private add(sample: StatsSample): void {
    const prev = this.last;
    this.last = sample;
    if (prev === null) return;
    const dt = Math.max((sample.t - prev.t) / 1000, 0.001);
    for (const [name, now] of Object.entries(sample.services)) {
      const before = prev.services[name];
      if (before === undefined) continue;
      let s = this.series.get(name);
      if (s === undefined) {
        s = { t: [], live: [], inRate: [], outRate: [], reqRate: [] };
        this.series.set(name, s);
      }
      s.t.push(sample.t / 1000);
      s.live.push(now[0]);
      // A counter that went down (a replaced service) reads as no traffic, not negative traffic.
      s.inRate.push(Math.max(0, now[1] - before[1]) / dt);
      s.outRate.push(Math.max(0, now[2] - before[2]) / dt);
      s.reqRate.push(Math.max(0, now[3] - before[3]) / dt);
      if (s.t.length > KEEP) for (const a of [s.t, s.live, s.inRate, s.outRate, s.reqRate]) a.shift();
    }
  }

  private onEvent(type: string, data: LiveEvent): void {
    this.events.unshift({ ...data, type });
    if (this.events.length > KEEP_EVENTS) this.events.length = KEEP_EVENTS;
    this.changed();
  }
}

/** Re-renders the calling component whenever `live` changes. */
export function useLive(live: Live): Live {
  const [, setVersion] = useState(0);
  useEffect(() => live.listen(() => setVersion(live.version)), [live]);
  return live;
}
