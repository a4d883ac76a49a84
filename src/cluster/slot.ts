import type { Worker } from 'node:cluster';
import type { WorkerReport } from './messages.js';

export type SlotState = 'starting' | 'running' | 'backoff' | 'failed' | 'stopped';

/** One worker process. */
export interface Member {
  readonly worker: Worker;
  readonly slot: Slot;
  readonly pid: number;
  ready: boolean;
  /** Its exit was asked for (stop, rolling restart): not a crash. */
  expected: boolean;
  report: WorkerReport | null;
  readonly startedAt: number;
  /** The listening sockets (listener-table.ts ids) already sent to it. */
  readonly listeners: Set<string>;
}

/** First restart delay after a crash; doubled per crash within the window, at most MAX_BACKOFF_MS. */
const FIRST_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 15_000;
const CRASH_WINDOW_MS = 60_000;

/**
 * A place for one worker: the worker in it (and one starting or retiring during a restart), its crashes in the last
 * minute and its restart back-off. Five crashes within a minute mark it failed until a rolling restart.
 */
export class Slot {
  static readonly CRASH_LIMIT = 5;
  readonly index: number;
  state: SlotState = 'starting';
  member: Member | null = null;
  starting: Member | null = null;
  readonly retiring: Member[] = [];
  restarts = 0;
  timer: NodeJS.Timeout | null = null;
  private crashes: number[] = [];
  private crashesTotal = 0;
  private lastExit: { at: number; code: number | null; signal: string | null } | null = null;

  constructor(index: number) {
    this.index = index;
  }

  crashed(now: number, code: number | null, signal: string | null): void {
    this.crashes.push(now);
    this.crashesTotal++;
    this.lastExit = { at: now, code, signal };
  }

  crashesInWindow(now: number): number {
    this.crashes = this.crashes.filter((t) => now - t < CRASH_WINDOW_MS);
    return this.crashes.length;
  }

  get totalCrashes(): number {
    return this.crashesTotal;
  }

  backoffMs(now: number): number {
    const n = Math.max(1, this.crashesInWindow(now));
    return Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (n - 1));
  }

  clearCrashes(): void {
    this.crashes = [];
  }

  toJSON(now: number): Record<string, unknown> {
    const m = this.member;
    return {
      worker: this.index,
      state: this.state,
      pid: m?.pid ?? null,
      uptimeSeconds: m === null ? null : Math.round((now - m.startedAt) / 1000),
      restarts: this.restarts,
      crashes: this.crashesTotal,
      crashesLastMinute: this.crashesInWindow(now),
      lastExit: this.lastExit === null ? null : { ...this.lastExit, at: new Date(this.lastExit.at).toISOString() },
      liveRelays: m?.report?.liveRelays ?? 0,
      services: (m?.report?.services ?? []).map((s) => ({
        name: s.name, state: s.state, connections: s.connections, bytes: s.bytes,
        // Forward and proxy services: who accepts in this worker (`engine`: its addon, `node`); null for gateways.
        accepts: (s.detail as { accepts?: string } | undefined)?.accepts ?? null,
      })),
      retiring: this.retiring.map((r) => r.pid),
    };
  }
}
