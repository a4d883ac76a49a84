import type { LimitStore, LimitStoreStatus } from '../accounting/limit-store.js';
import type { BookedSpend, SharedLimitOwner } from '../contracts/accounting.js';
import type { FromWorker, LimitArgs } from './messages.js';

/** How long a worker waits for the primary's answer before it decides an admission alone. */
const ADMIT_TIMEOUT_MS = 1_000;
const SWEEP_MS = 250;

type Send = (message: FromWorker) => void;

/**
 * A worker's gateway limits, held by the primary (limit-hub.ts) for every worker: the rpm / tpm windows, the
 * `concurrent` counts and the user's and key's budget reservations. Admissions of one event-loop turn go in one
 * message and come back in one; settlements ride the next delta batch (after the deltas of their rows, so the
 * primary never sees a reservation released before the spend it covered). Without an answer within a second, or
 * with the primary gone, the worker decides alone (`limits.state: local`).
 */
export class PrimaryLimits implements LimitStore {
  readonly budgets = true;
  fallbacks = 0;
  /** Told of a settlement (the worker's link sends a batch at the end of the turn). */
  onSettle: (() => void) | null = null;
  lastError: string | null = null;
  private readonly send: Send;
  private batch: LimitBatch | null = null;
  private readonly waiting = new Map<number, LimitBatch>();
  private seq = 0;
  private ids = 0;
  private settles: LimitArgs = [];
  private closed = false;
  /** The answer-timeout sweep: armed only while a batch waits for its answer. */
  private timer: NodeJS.Timeout | null = null;
  private armed = false;

  constructor(send: Send) {
    this.send = send;
  }

  get up(): boolean {
    return !this.closed && process.connected === true;
  }

  connect(): Promise<void> {
    return Promise.resolve();
  }

  admit(owner: SharedLimitOwner, subjects: readonly string[], limits: readonly number[], reserved: number): void {
    let batch = this.batch;
    if (batch === null) {
      batch = this.batch = new LimitBatch(++this.seq);
      setImmediate(sendLimitBatch, this);
    }
    const id = ++this.ids;
    owner.sharedSeq = id;
    batch.owners.push(owner);
    batch.subjects.push(subjects.length);
    batch.reserved.push(reserved);
    const a = batch.args;
    a.push(id, subjects.length, reserved, owner.spendUser, owner.spendModel, owner.spendInput, owner.spendOutput,
      owner.keyBudgetId, owner.keyInput, owner.keyOutput, owner.keyCost);
    for (let i = 0; i < subjects.length; i++) {
      a.push(subjects[i]!, limits[3 * i]!, limits[3 * i + 1]!, limits[3 * i + 2]!);
    }
  }

  /** Sends this turn's admissions. */
  flushAdmissions(): void {
    const batch = this.batch!;
    this.batch = null;
    batch.sentAt = Date.now();
    try {
      this.send({ t: 'admit', seq: batch.seq, args: batch.args });
    } catch (err) {
      this.lastError = (err as Error).message;
      this.fallbacks += batch.owners.length;
      batch.failed();
      return;
    }
    this.waiting.set(batch.seq, batch);
    if (!this.armed) this.arm();
  }

  private arm(): void {
    this.armed = true;
    if (this.timer === null) {
      this.timer = setTimeout(sweepLimits, SWEEP_MS, this);
      this.timer.unref();
    } else {
      this.timer.refresh();
    }
  }

  /** @internal the sweep timer fired */
  sweepDue(): void {
    this.armed = false;
    this.sweep(Date.now());
    if (this.waiting.size > 0 && !this.closed) this.arm();
  }

  /** The primary's answer to one batch (late answers only give back what was taken). */
  replied(seq: number, r: readonly number[], names: readonly (string | null)[] | null): void {
    const batch = this.waiting.get(seq);
    if (batch !== undefined) {
      this.waiting.delete(seq);
      batch.replied(r, names);
      return;
    }
    // Decided alone after a timeout: release what the primary took for those admissions (their tokens slide out).
    let at = 0;
    while (at < r.length) {
      if (r[at] === 0) this.settles.push(r[at + 2]!, 0, 0);
      at += 4 + 5 * r[at + 3]!;
    }
  }

  settle(_subjects: readonly string[], delta: number, owner: SharedLimitOwner): void {
    const s = this.settles;
    const row = owner.booked;
    if (row === null || owner.keyBudgetId === null) s.push(owner.sharedSeq, delta, 0);
    else {
      s.push(owner.sharedSeq, delta, 1, row.totalTokens ?? 0, row.inputTokens ?? 0, row.cacheReadTokens ?? 0,
        row.cacheWriteTokens ?? 0, row.outputTokens ?? 0, row.reasoningTokens ?? 0, row.costMicros ?? 0);
    }
    this.onSettle?.();
  }

  /** A key's spend booked here alone (no answer in time): `0, 0, 2, keyBudgetId` then the booked figures. */
  bookKey(keyBudgetId: string, row: BookedSpend): void {
    this.settles.push(0, 0, 2, keyBudgetId, row.totalTokens ?? 0, row.inputTokens ?? 0, row.cacheReadTokens ?? 0,
      row.cacheWriteTokens ?? 0, row.outputTokens ?? 0, row.reasoningTokens ?? 0, row.costMicros ?? 0);
    this.onSettle?.();
  }

  /** The settlements since the last delta batch (WorkerLink sends them after the batch's deltas). */
  takeSettles(): LimitArgs {
    const s = this.settles;
    if (s.length === 0) return EMPTY;
    this.settles = [];
    return s;
  }

  get pendingSettles(): number {
    return this.settles.length;
  }

  status(): LimitStoreStatus {
    return { store: 'primary', state: this.up ? 'shared' : 'local', fallbacks: this.fallbacks,
      lastError: this.lastError };
  }

  close(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.closed = true;
    return Promise.resolve();
  }

  private sweep(now: number): void {
    for (const [seq, batch] of this.waiting) {
      if (now - batch.sentAt < ADMIT_TIMEOUT_MS) continue;
      this.waiting.delete(seq);
      this.lastError = `no answer from the primary within ${ADMIT_TIMEOUT_MS} ms`;
      this.fallbacks += batch.owners.length;
      batch.failed();
    }
  }
}

const EMPTY: LimitArgs = [];

function sweepLimits(store: PrimaryLimits): void {
  store.sweepDue();
}

function sendLimitBatch(store: PrimaryLimits): void {
  store.flushAdmissions();
}

/** One turn's admissions: their owners and arguments, in order. */
class LimitBatch {
  readonly seq: number;
  readonly owners: SharedLimitOwner[] = [];
  readonly subjects: number[] = [];
  readonly reserved: number[] = [];
  readonly args: LimitArgs = [];
  sentAt = 0;

  constructor(seq: number) {
    this.seq = seq;
  }

  /** Per admission: refused, limit, id, subjects, then 5 window figures per subject. */
  replied(r: readonly number[], names: readonly (string | null)[] | null): void {
    let at = 0;
    for (let i = 0; i < this.owners.length; i++) {
      const n = this.subjects[i]!;
      const name = names === null ? undefined : (names[i] ?? undefined);
      this.owners[i]!.sharedReply(r[at]!, r[at + 1]!, r, at + 4, name);
      at += 4 + 5 * n;
    }
  }

  failed(): void {
    for (let i = 0; i < this.owners.length; i++) this.owners[i]!.sharedReply(0, 0, null, 0);
  }
}
