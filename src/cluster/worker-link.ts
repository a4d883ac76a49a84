import { Delta } from '../accounting/delta.js';
import type { RedisStatus } from '../accounting/redis-store.js';
import type { SharedCounterStore } from '../accounting/shared-store.js';
import type { Subject, UserAccount } from '../accounting/subject.js';
import type { RequestLogRow } from '../contracts/records.js';
import type { RequestLogColumns } from '../contracts/usage-log.js';
import { RequestLogBatch } from '../store/request-log-batch.js';
import type { UsageLogStats } from '../contracts/usage-log.js';
import type { Logger } from '../log.js';
import type { PrimaryLimits } from './limit-client.js';
import {
  COUNTER_FIELDS, SPENT_FIELDS, type DeltaRow, type FromWorker, type LimitArgs, type UsageRow,
} from './messages.js';

/** How often a worker sends its counter deltas (and request-log rows) to the primary. */
export const DELTA_BATCH_MS = 100;
/** How long a flush or the final batch waits for the primary's acknowledgement. */
const ACK_TIMEOUT_MS = 5_000;
/** Request-log rows a batch holds; a full one goes at once (at ~10k requests a second, about every 100 ms). */
const LOG_BATCH_ROWS = 1_024;

type Send = (message: FromWorker) => void;

/**
 * A worker's end of the one ledger: deltas go to the primary in a batch DELTA_BATCH_MS after the first change since the
 * last batch (none while nothing changes; and at exit, waiting for the acknowledgement), and the primary's usage totals
 * come back and raise the users' usage, so a quota holds across workers. It plays the part Redis plays between
 * instances (the same Subject fields, the same never-lower rule); the ledger, Redis and the request log stay in the
 * primary.
 */
export class WorkerLink implements SharedCounterStore {
  private readonly send: Send;
  private readonly log: Logger;
  private readonly dirty = new Set<Subject>();
  private users = new Map<string, UserAccount>();
  /** The latest usage row the primary sent per user (new users start from it). */
  private readonly known = new Map<string, UsageRow>();
  /** Request-log rows since the last batch, in columns: they cross as two typed arrays, not an object per row. */
  private readonly logRows = new RequestLogBatch(LOG_BATCH_ROWS);
  private seq = 0;
  private readonly waiters = new Map<number, () => void>();
  /** The batch timer, armed by the first change after a batch (re-armed with refresh(), one object for good). */
  private timer: NodeJS.Timeout | null = null;
  private armed = false;
  private closed = false;
  private soon = false;
  private batches = 0;
  private sentRows = 0;
  /** Workers spending a user's quota at once (each engine budget gets this share of what is left). */
  budgetShare = 1;
  /** The gateway limits held by the primary: their settlements go in each batch, after its deltas. */
  limits: PrimaryLimits | null = null;
  /** Users whose live relay count changed since the last batch (the primary sums them per user). */
  private readonly liveDirty = new Set<UserAccount>();
  /** Told of a user whose usage the primary raised (accounting re-checks the quota at once). */
  onRaised: ((id: string) => void) | null = null;

  constructor(send: Send, log: Logger) {
    this.send = send;
    this.log = log;
  }

  /** Something to send: a batch goes DELTA_BATCH_MS from now (unless one is already due). */
  private arm(): void {
    if (this.armed || this.closed) return;
    this.armed = true;
    if (this.timer === null) {
      this.timer = setTimeout(sendDeltas, DELTA_BATCH_MS, this);
      this.timer.unref();
    } else {
      this.timer.refresh();
    }
  }

  /** @internal the batch timer fired */
  batchDue(): void {
    this.armed = false;
    void this.flushBatch(false);
  }

  get connected(): boolean {
    return !this.closed;
  }

  connect(): Promise<void> {
    return Promise.resolve();
  }

  setUsers(users: UserAccount[]): void {
    this.users = new Map(users.map((u) => [u.id, u]));
  }

  markDirty(subject: Subject): void {
    if (subject.redisDirty) return;
    subject.redisDirty = true;
    this.dirty.add(subject);
    if (!this.armed) this.arm();
  }

  loadUsers(users: readonly UserAccount[]): Promise<void> {
    for (const user of users) {
      const row = this.known.get(user.id);
      if (row !== undefined) this.raise(user, row);
    }
    return Promise.resolve();
  }

  /**
   * Sends a batch at the end of this event-loop turn (a gateway settlement: the primary holds its reservation until
   * the batch with its spend arrives, so waiting for the 100 ms tick would hold budgets longer than one process).
   */
  flushSoon(): void {
    if (this.soon) return;
    this.soon = true;
    setImmediate(flushLinkSoon, this);
  }

  /** The end-of-turn batch (flushSoon). */
  flushTurn(): void {
    this.soon = false;
    void this.flushBatch(false);
  }

  liveChanged(user: UserAccount): void {
    this.liveDirty.add(user);
    if (!this.armed) this.arm();
  }

  /** A request-log row for the primary's writer. */
  pushLog(row: RequestLogRow): void {
    if (this.closed) return;
    const rows = this.logRows;
    rows.add(row);
    if (rows.full) void this.flushBatch(false);
    else if (!this.armed) this.arm();
  }

  /** Request-log rows already in columns. */
  pushLogColumns(columns: RequestLogColumns): void {
    if (this.closed) return;
    const rows = this.logRows;
    let from = 0;
    while (from < columns.length) {
      from += rows.append(columns, from);
      if (rows.full) void this.flushBatch(false);
    }
    if (rows.length > 0 && !this.armed) this.arm();
  }

  get pendingLogRows(): number {
    return this.logRows.length;
  }

  /** Usage totals from the primary. */
  applyUsage(rows: readonly UsageRow[]): void {
    for (const row of rows) {
      this.known.set(row[0], row);
      const user = this.users.get(row[0]);
      if (user !== undefined && this.raise(user, row)) this.onRaised?.(user.id);
    }
  }

  acknowledged(seq: number): void {
    for (const [s, resolve] of this.waiters) {
      if (s > seq) continue;
      this.waiters.delete(s);
      resolve();
    }
  }

  /** The user's period started again (the primary reset it): forget the old totals. */
  forget(id: string): void {
    this.known.delete(id);
  }

  sync(): Promise<void> {
    return this.flushBatch(true);
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    await this.flushBatch(true);
    this.closed = true;
  }

  status(): RedisStatus {
    return {
      state: this.closed ? 'closed' : 'connected', url: 'ipc://primary', pendingSubjects: this.dirty.size,
      lastError: null, downSince: null, outages: 0, reseeds: 0,
    };
  }

  logStats(): UsageLogStats {
    return {
      pending: this.logRows.length, written: this.sentRows, badRows: 0, dropped: 0, flushes: this.batches,
      failedFlushes: 0, lastError: null, writer: 'inline',
    };
  }

  /** One batch of the dirty subjects' deltas and the queued log rows; with `ack`, resolves once the primary has it. */
  private flushBatch(ack: boolean): Promise<void> {
    if (this.closed) return Promise.resolve();
    const limits = this.limits;
    if (this.dirty.size === 0 && this.logRows.length === 0 && this.liveDirty.size === 0 && !ack &&
      (limits === null || limits.pendingSettles === 0)) return Promise.resolve();
    const rows: DeltaRow[] = [];
    for (const subject of this.dirty) {
      for (const delta of subject.redisCarried) rows.push(deltaRow(subject, delta));
      subject.redisCarried = [];
      const delta = subject.redisPending;
      if (!delta.isZero()) {
        rows.push(deltaRow(subject, delta));
        subject.redisPending = new Delta(delta.period);
      }
      subject.redisDirty = false;
    }
    this.dirty.clear();
    const logRows = this.logRows;
    const log = logRows.length === 0 ? null : logRows.toMessage();
    // Taken after the deltas: a released reservation never reaches the primary before the spend it covered.
    const settles = limits === null ? NONE : limits.takeSettles();
    let live: LimitArgs = NONE;
    if (this.liveDirty.size > 0) {
      live = [];
      for (const user of this.liveDirty) live.push(user.id, user.relays.size);
      this.liveDirty.clear();
    }
    const seq = ++this.seq;
    this.batches++;
    this.sentRows += logRows.length;
    try {
      this.send({ t: 'deltas', seq, ack, rows, log, settles, live });
    } catch (err) {
      // The channel is gone (the primary died): nothing can take these deltas any more.
      this.log.error({ err: (err as Error).message, rows: rows.length }, 'worker: deltas could not reach the primary');
      return Promise.resolve();
    } finally {
      // send() serialized the columns: the batch's arrays take the next rows.
      logRows.clear();
    }
    if (!ack) return Promise.resolve();
    const waiters = this.waiters;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(function ackTimedOut() {
        waiters.delete(seq);
        resolve();
      }, ACK_TIMEOUT_MS);
      waiters.set(seq, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Takes the primary's totals plus what this worker has not sent yet, where that is more than the worker knows. */
  private raise(user: UserAccount, row: UsageRow): boolean {
    if (row[1] !== user.usedPeriod) return false;
    const unsent = user.redisPending.period === user.usedPeriod ? user.redisPending : null;
    const usedIn = (row[2] as number) + (unsent?.bytesIn ?? 0);
    const usedOut = (row[3] as number) + (unsent?.bytesOut ?? 0);
    let raised = false;
    if (usedIn > user.usedIn) {
      user.usedIn = usedIn;
      raised = true;
    }
    if (usedOut > user.usedOut) {
      user.usedOut = usedOut;
      raised = true;
    }
    const spent = user.spent;
    for (let i = 0; i < SPENT_FIELDS.length; i++) {
      const field = SPENT_FIELDS[i]!;
      const value = (row[4 + i] as number) + (unsent === null ? 0 : unsent[field]);
      if (value > spent[field]) {
        spent[field] = value;
        raised = true;
      }
    }
    return raised;
  }
}

const NONE: LimitArgs = [];

function sendDeltas(link: WorkerLink): void {
  link.batchDue();
}

function flushLinkSoon(link: WorkerLink): void {
  link.flushTurn();
}

function deltaRow(subject: Subject, delta: Delta): DeltaRow {
  const row: DeltaRow = [subject.kind === 'user' ? 0 : 1, subject.id, delta.period];
  for (const field of COUNTER_FIELDS) row.push(delta[field]);
  return row;
}
