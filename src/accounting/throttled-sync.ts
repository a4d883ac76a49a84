import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';
import type { Ledger, LedgerRow } from '../store/ledger.js';
import type { Delta } from './delta.js';
import { ALL_TIME, type Clock } from './period.js';
import type { Subject } from './subject.js';

export interface SyncOptions {
  readonly intervalMs: number;
  /** Subjects per transaction: bounds how long one flush holds the event loop. */
  readonly batchSize: number;
  /** Dirty subjects that trigger a flush before the interval ends. */
  readonly maxPending: number;
}

export interface SyncStatus {
  readonly config: { readonly interval: number; readonly batchSize: number; readonly maxPending: number };
  readonly stats: {
    readonly totalSyncs: number;
    readonly successfulSyncs: number;
    readonly failedSyncs: number;
    readonly avgSyncMs: number;
    readonly pendingUsers: number;
    readonly syncing: boolean;
    readonly emergencyFlushes: number;
    readonly lastError: string | null;
  };
}

/** Longest back-off between retries of a failing ledger. */
const MAX_BACKOFF_MS = 30_000;
/** How often a shutdown flush retries a failing ledger before it gives up and logs what it could not write. */
const SHUTDOWN_ATTEMPTS = 4;

/**
 * Throttled durable sync: subjects with unsent deltas are queued, and every `intervalMs` (or at once when
 * `maxPending` are queued) they go to the ledger, `batchSize` per transaction. A failed transaction keeps every
 * delta (they stay merged in the subjects) and is retried with exponential back-off; a row that fails on its own
 * is isolated so the rest of its batch still lands.
 */
export class ThrottledSync {
  private readonly ledger: Ledger | null;
  private readonly log: Logger;
  private readonly clock: Clock;
  private options: SyncOptions;
  private readonly dirty = new Set<Subject>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<boolean> | null = null;
  private consecutiveFailures = 0;
  private emergencyQueued = false;
  private closed = false;
  private totalSyncs = 0;
  private successfulSyncs = 0;
  private failedSyncs = 0;
  private totalSyncMs = 0;
  private emergencyFlushes = 0;
  private lastError: string | null = null;

  constructor(ledger: Ledger | null, options: SyncOptions, log: Logger, clock: Clock) {
    this.ledger = ledger;
    this.options = options;
    this.log = log;
    this.clock = clock;
    this.onTimer = this.onTimer.bind(this);
    this.onEmergency = this.onEmergency.bind(this);
  }

  get enabled(): boolean {
    return this.ledger !== null;
  }

  get pending(): number {
    return this.dirty.size;
  }

  start(): void {
    if (this.ledger !== null) this.schedule(this.options.intervalMs);
  }

  setOptions(options: SyncOptions): void {
    const intervalChanged = options.intervalMs !== this.options.intervalMs;
    this.options = options;
    if (intervalChanged && this.consecutiveFailures === 0 && this.timer !== null) this.schedule(options.intervalMs);
  }

  /** Queues a subject whose deltas changed; at `maxPending` queued subjects a flush starts at once. */
  markDirty(subject: Subject): void {
    if (subject.dirty || this.ledger === null) return;
    subject.dirty = true;
    this.dirty.add(subject);
    // No emergency flush while backing off from a failing ledger: that would hammer it.
    if (
      this.dirty.size >= this.options.maxPending && !this.emergencyQueued && this.consecutiveFailures === 0 &&
      !this.closed
    ) {
      this.emergencyQueued = true;
      setImmediate(this.onEmergency);
    }
  }

  /** Writes everything queued (batch by batch, yielding between batches); resolves false if a batch failed. */
  flush(): Promise<boolean> {
    if (this.running !== null) {
      // A flush in progress may have taken its batches already; run again after it for what came since.
      return this.running.then(() => this.flush());
    }
    this.running = this.drain().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Final flush on shutdown: retries a failing ledger a few times, then logs what could not be written. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (let attempt = 1; this.dirty.size > 0; attempt++) {
      if (await this.flush()) continue;
      if (attempt >= SHUTDOWN_ATTEMPTS) break;
      await sleep(Math.min(250 * 2 ** attempt, 2_000));
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.dirty.size > 0) {
      // Nothing else can keep them now: put them in the log, whole, so an operator can replay them.
      const unsaved = [...this.dirty].map((s) => ({ kind: s.kind, id: s.id, pending: s.pending, carried: s.carried }));
      this.log.error({ unsaved, err: this.lastError }, 'shutdown: usage deltas could not be written to the ledger');
    }
  }

  status(): SyncStatus {
    const o = this.options;
    return {
      config: { interval: o.intervalMs, batchSize: o.batchSize, maxPending: o.maxPending },
      stats: {
        totalSyncs: this.totalSyncs,
        successfulSyncs: this.successfulSyncs,
        failedSyncs: this.failedSyncs,
        avgSyncMs: this.totalSyncs === 0 ? 0 : Math.round((this.totalSyncMs / this.totalSyncs) * 100) / 100,
        pendingUsers: this.dirty.size,
        syncing: this.running !== null,
        emergencyFlushes: this.emergencyFlushes,
        lastError: this.lastError,
      },
    };
  }

  private onTimer(): void {
    this.timer = null;
    void this.flush();
  }

  private onEmergency(): void {
    this.emergencyQueued = false;
    if (this.dirty.size < this.options.maxPending) return;
    this.emergencyFlushes++;
    this.log.warn(
      { pending: this.dirty.size, maxPending: this.options.maxPending },
      'too many users waiting for the ledger: emergency flush',
    );
    void this.flush();
  }

  private schedule(ms: number): void {
    if (this.closed || this.ledger === null) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(this.onTimer, ms);
    this.timer.unref();
  }

  private async drain(): Promise<boolean> {
    let ok = true;
    while (this.dirty.size > 0) {
      ok = this.flushBatch();
      if (!ok) break;
      if (this.dirty.size > 0) await yieldToLoop();
    }
    if (ok) {
      if (this.consecutiveFailures > 0) {
        this.log.info({ afterFailures: this.consecutiveFailures }, 'ledger writes recovered');
      }
      this.consecutiveFailures = 0;
      this.schedule(this.options.intervalMs);
    } else {
      this.consecutiveFailures++;
      const backoff = Math.min(
        1_000 * 2 ** (this.consecutiveFailures - 1), MAX_BACKOFF_MS, Math.max(this.options.intervalMs, 1_000),
      );
      this.log.warn(
        { err: this.lastError, pending: this.dirty.size, retryInMs: backoff },
        'ledger flush failed; deltas kept for retry',
      );
      this.schedule(backoff);
    }
    return ok;
  }

  /** One transaction of at most `batchSize` subjects; true when every subject of the batch was written. */
  private flushBatch(): boolean {
    const ledger = this.ledger!;
    const started = performance.now();
    const batch: Subject[] = [];
    for (const subject of this.dirty) {
      batch.push(subject);
      if (batch.length >= this.options.batchSize) break;
    }
    const rows: LedgerRow[] = [];
    for (const subject of batch) rowsOf(subject, rows);
    const now = this.clock();
    let ok = true;
    try {
      ledger.write(rows, now);
      for (const subject of batch) this.written(subject);
    } catch (err) {
      this.lastError = (err as Error).message;
      ok = this.isolate(batch, now);
    }
    this.totalSyncs++;
    if (ok) this.successfulSyncs++;
    else this.failedSyncs++;
    this.totalSyncMs += performance.now() - started;
    return ok;
  }

  /** After a batch failed: writes each subject alone, so one bad row cannot hold back the others. */
  private isolate(batch: readonly Subject[], now: number): boolean {
    if (batch.length === 1) return false;
    let failed = 0;
    const rows: LedgerRow[] = [];
    for (const subject of batch) {
      rows.length = 0;
      rowsOf(subject, rows);
      try {
        this.ledger!.write(rows, now);
        this.written(subject);
      } catch (err) {
        failed++;
        this.lastError = (err as Error).message;
        // A failure of one subject alone after a whole-batch failure: name it once.
        if (failed === 1) {
          this.log.warn(
            { kind: subject.kind, id: subject.id, err: this.lastError }, 'ledger rejected a row; it stays queued',
          );
        }
      }
    }
    return failed === 0;
  }

  private written(subject: Subject): void {
    for (const delta of subject.carried) subject.durable.addFrom(delta);
    subject.durable.addFrom(subject.pending);
    subject.carried = [];
    subject.pending.clear();
    subject.dirty = false;
    this.dirty.delete(subject);
  }
}

function rowsOf(subject: Subject, rows: LedgerRow[]): void {
  for (const delta of subject.carried) pushRows(subject, delta, rows);
  if (!subject.pending.isZero()) pushRows(subject, subject.pending, rows);
}

/** Every delta adds to the all-time row and, for a periodic quota, to its period's row. */
function pushRows(subject: Subject, delta: Delta, rows: LedgerRow[]): void {
  rows.push({ kind: subject.kind, subject: subject.id, period: ALL_TIME, counts: delta });
  if (delta.period !== ALL_TIME) {
    rows.push({ kind: subject.kind, subject: subject.id, period: delta.period, counts: delta });
  }
}
