import type { Accounting } from '../accounting/accounting.js';
import { configuredKeyBudgets } from '../accounting/key-account.js';
import type { Config } from '../config/schema.js';
import type { BookedSpend, KeySpend, SharedLimitOwner, SpendReservation } from '../contracts/accounting.js';
import { WINDOW_MS } from '../gateway/limits/window.js';
import type { LimitArgs } from './messages.js';

/** A subject's sliding minute as the Redis script keeps it (the same rule), plus its requests in flight. */
class HubWindow {
  start = 0;
  rc = 0;
  rp = 0;
  tc = 0;
  tp = 0;
  live = 0;

  roll(now: number): void {
    const start = now - (now % WINDOW_MS);
    if (start === this.start) return;
    const keep = start - this.start === WINDOW_MS;
    this.rp = keep ? this.rc : 0;
    this.tp = keep ? this.tc : 0;
    this.rc = 0;
    this.tc = 0;
    this.start = start;
  }
}

/** What the primary holds for one admitted request of one worker until the worker settles it. */
class Held {
  readonly subjects: string[];
  readonly windows: HubWindow[];
  reservation: SpendReservation | null = null;
  keyBudget: KeySpend | null = null;
  keyInput = 0;
  keyOutput = 0;
  keyCost = 0;
  /** The rpm / tpm windows were taken in Redis (settle there). */
  redis = false;

  constructor(subjects: string[], windows: HubWindow[]) {
    this.subjects = subjects;
    this.windows = windows;
  }
}

type Reply = (r: number[], names: (string | null)[] | null) => void;

/** An admission the primary forwarded to Redis (rpm / tpm there; `concurrent` and budgets stay in the hub). */
class RedisAsk implements SharedLimitOwner {
  sharedSeq = 0;
  readonly spendUser = null;
  readonly spendModel = '';
  readonly spendInput = 0;
  readonly spendOutput = 0;
  readonly keyBudgetId = null;
  readonly keyInput = 0;
  readonly keyOutput = 0;
  readonly keyCost = 0;
  readonly booked = null;
  readonly hub: LimitHub;
  readonly answer: HubAnswer;
  readonly held: Held;
  readonly id: number;
  readonly head: number;
  readonly reserved: number;
  readonly member: object;
  /** rpm, tpm, concurrent per subject (the hub decides with them if Redis fails). */
  readonly limits: number[];

  constructor(hub: LimitHub, answer: HubAnswer, held: Held, id: number, head: number, reserved: number,
    member: object, limits: number[]) {
    this.hub = hub;
    this.answer = answer;
    this.held = held;
    this.id = id;
    this.head = head;
    this.reserved = reserved;
    this.member = member;
    this.limits = limits;
  }

  sharedReply(refused: number, limit: number, windows: readonly number[] | null, at: number): void {
    this.hub.redisAnswered(this, refused, limit, windows, at);
  }
}

/** One worker batch's answer, sent once every admission in it is decided. */
class HubAnswer {
  readonly r: number[] = [];
  names: (string | null)[] | null = null;
  pending = 0;
  readonly reply: Reply;

  constructor(reply: Reply) {
    this.reply = reply;
  }

  name(index: number, budget: string): void {
    (this.names ??= [])[index] = budget;
  }

  done(): void {
    if (--this.pending === 0) this.reply(this.r, this.names);
  }
}

/**
 * The primary's gateway limits for every worker (the other end of limit-client.ts): each user's and key's sliding
 * minute windows, their requests in flight (`concurrent`) and the user's and key's budget reservations, so a limit
 * or budget holds across workers with the bound of one process. Each admission is checked and taken at once, in
 * arrival order, as one process does. With `store.redis` the rpm / tpm windows are Redis's (shared with other
 * instances, one script call per batch); `concurrent` and budgets stay here. What a worker holds is given back
 * when it settles, or all at once when it exits.
 */
export class LimitHub {
  private readonly accounting: Accounting;
  private readonly windows = new Map<string, HubWindow>();
  private readonly held = new Map<object, Map<number, Held>>();
  /** Key budgets by their id (`<service>:k:<user>/<name>`), kept across reloads while the key keeps one. */
  private keyBudgets = new Map<string, KeySpend>();
  admissions = 0;
  refusals = 0;

  constructor(accounting: Accounting) {
    this.accounting = accounting;
  }

  /** The key budgets of a (re)loaded config: one per gateway service and key with a budget. */
  apply(config: Config): void {
    const next = new Map<string, KeySpend>();
    // The primary's ledger keeps each key's spend across restarts (workers' own budgets are a fallback).
    for (const [id, quota] of configuredKeyBudgets(config)) next.set(id, this.accounting.keySpend(id, quota));
    this.keyBudgets = next;
  }

  /** A worker's batch of admissions (limit-client.ts's layout); `reply` hears the answers once all are decided. */
  admit(member: object, args: LimitArgs, reply: Reply): void {
    const answer = new HubAnswer(reply);
    answer.pending = 1;
    let held = this.held.get(member);
    if (held === undefined) this.held.set(member, held = new Map());
    const redis = this.accounting.sharedLimits;
    const now = Date.now();
    const frac = 1 - (now % WINDOW_MS) / WINDOW_MS;
    const r = answer.r;
    let a = 0;
    for (let index = 0; a < args.length; index++) {
      const id = args[a] as number;
      const n = args[a + 1] as number;
      const reserved = args[a + 2] as number;
      const spendUser = args[a + 3] as string | null;
      const keyId = args[a + 7] as string | null;
      const head = r.length;
      r.push(0, 0, id, n);
      this.admissions++;
      const viaRedis = redis !== null && redis.up && n > 0;
      const subjects: string[] = [];
      const windows: HubWindow[] = [];
      let refused = 0;
      let limit = 0;
      for (let i = 0; i < n; i++) {
        const s = a + 11 + 4 * i;
        const subject = args[s] as string;
        let w = this.windows.get(subject);
        if (w === undefined) this.windows.set(subject, w = new HubWindow());
        w.roll(now);
        subjects.push(subject);
        windows.push(w);
        const rpm = args[s + 1] as number;
        const tpm = args[s + 2] as number;
        const concurrent = args[s + 3] as number;
        if (refused === 0) {
          if (concurrent > 0 && w.live >= concurrent) limit = 3;
          else if (!viaRedis && rpm > 0 && w.rp * frac + w.rc + 1 > rpm) limit = 1;
          else if (!viaRedis && tpm > 0 && w.tp * frac + w.tc >= tpm) limit = 2;
          if (limit !== 0) refused = i + 1;
        }
        r.push(w.start, w.rc, w.rp, w.tc, w.tp);
      }
      let keyBudget: KeySpend | null = null;
      let reservation: SpendReservation | null = null;
      if (refused === 0 && keyId !== null) {
        keyBudget = this.keyBudgets.get(keyId) ?? null;
        const used = keyBudget === null ? null : keyBudget.used(now);
        if (used !== null) {
          refused = 1;
          limit = 5;
          answer.name(index, used);
        }
      }
      if (refused === 0 && spendUser !== null) {
        const got = this.accounting.admitSpend(spendUser, args[a + 4] as string, args[a + 5] as number,
          args[a + 6] as number);
        if (got !== null && 'reason' in got) {
          refused = 1;
          limit = 4;
          answer.name(index, got.budget ?? 'quota');
        } else reservation = got;
      }
      if (refused !== 0) {
        this.refusals++;
        r[head] = refused;
        r[head + 1] = limit;
      } else {
        const h = new Held(subjects, windows);
        h.reservation = reservation;
        if (keyBudget !== null) {
          h.keyBudget = keyBudget;
          h.keyInput = args[a + 8] as number;
          h.keyOutput = args[a + 9] as number;
          h.keyCost = args[a + 10] as number;
          keyBudget.reserve(h.keyInput, h.keyOutput, h.keyCost);
        }
        for (let i = 0; i < n; i++) windows[i]!.live++;
        held.set(id, h);
        if (viaRedis) {
          h.redis = true;
          answer.pending++;
          const limits: number[] = [];
          for (let i = 0; i < n; i++) {
            const s = a + 11 + 4 * i;
            limits.push(args[s + 1] as number, args[s + 2] as number, 0);
          }
          redis.admit(new RedisAsk(this, answer, h, id, head, reserved, member, limits), subjects, limits, reserved);
        } else {
          for (let i = 0; i < n; i++) {
            const w = windows[i]!;
            w.rc += 1;
            w.tc += reserved;
            r[head + 5 + 5 * i] = w.rc;
            r[head + 7 + 5 * i] = w.tc;
          }
        }
      }
      a += 11 + 4 * n;
    }
    answer.done();
  }

  /** Redis answered a forwarded admission: its windows into the answer, or the hub's reservations undone. */
  redisAnswered(ask: RedisAsk, refused: number, limit: number, windows: readonly number[] | null, at: number): void {
    const h = ask.held;
    const r = ask.answer.r;
    const n = h.windows.length;
    if (windows === null) {
      // Redis failed: the hub's own windows decide (as one process falls back to its own).
      h.redis = false;
      const now = Date.now();
      const frac = 1 - (now % WINDOW_MS) / WINDOW_MS;
      const limits = ask.limits;
      for (let i = 0; i < n && refused === 0; i++) {
        const w = h.windows[i]!;
        w.roll(now);
        const rpm = limits[3 * i]!;
        const tpm = limits[3 * i + 1]!;
        if (rpm > 0 && w.rp * frac + w.rc + 1 > rpm) limit = 1;
        else if (tpm > 0 && w.tp * frac + w.tc >= tpm) limit = 2;
        if (limit !== 0) refused = i + 1;
      }
      for (let i = 0; i < n; i++) {
        const w = h.windows[i]!;
        if (refused === 0) {
          w.rc += 1;
          w.tc += ask.reserved;
        }
        const b = ask.head + 4 + 5 * i;
        r[b] = w.start;
        r[b + 1] = w.rc;
        r[b + 2] = w.rp;
        r[b + 3] = w.tc;
        r[b + 4] = w.tp;
      }
    } else for (let i = 0; i < 5 * n; i++) r[ask.head + 4 + i] = windows[at + i]!;
    if (refused !== 0) {
      this.refusals++;
      r[ask.head] = refused;
      r[ask.head + 1] = limit;
      this.held.get(ask.member)?.delete(ask.id);
      this.release(h, null);
    }
    ask.answer.done();
  }
  /** A worker's settlements (limit-client.ts's layout): tokens corrected, counts and reservations given back. */
  settle(member: object, args: LimitArgs): void {
    const held = this.held.get(member);
    const now = Date.now();
    let a = 0;
    while (a < args.length) {
      if (args[a + 2] === 2) {
        // Booked by the worker alone (the hub did not answer in time): the key budget counts it too.
        const keyBudget = this.keyBudgets.get(args[a + 3] as string);
        if (keyBudget !== undefined) {
          keyBudget.reserve(0, 0, 0);
          keyBudget.settle(0, 0, 0, bookedRow(args, a + 4));
        }
        a += 11;
        continue;
      }
      const id = args[a] as number;
      const delta = args[a + 1] as number;
      const booked = args[a + 2] === 1;
      const h = held?.get(id);
      if (h !== undefined) {
        held!.delete(id);
        if (delta !== 0) {
          if (h.redis) this.accounting.sharedLimits?.settle(h.subjects, delta, NO_OWNER);
          else {
            for (const w of h.windows) {
              w.roll(now);
              w.tc += delta;
            }
          }
        }
        this.release(h, booked ? bookedRow(args, a + 3) : null);
      }
      a += booked ? 10 : 3;
    }
  }

  /** A worker exited: what it held is given back (its tokens stay in the windows and slide out). */
  forget(member: object): void {
    const held = this.held.get(member);
    if (held === undefined) return;
    this.held.delete(member);
    for (const h of held.values()) this.release(h, null);
  }

  status(): { admissions: number; refusals: number; held: number } {
    let held = 0;
    for (const m of this.held.values()) held += m.size;
    return { admissions: this.admissions, refusals: this.refusals, held };
  }

  private release(h: Held, row: BookedSpend | null): void {
    for (const w of h.windows) w.live--;
    if (h.reservation !== null) {
      this.accounting.releaseSpend(h.reservation);
      h.reservation = null;
    }
    if (h.keyBudget !== null) {
      h.keyBudget.settle(h.keyInput, h.keyOutput, h.keyCost, row);
      h.keyBudget = null;
    }
  }
}

/** Settlements of the hub itself (Redis needs no owner for them). */
const NO_OWNER: SharedLimitOwner = {
  sharedSeq: 0, spendUser: null, spendModel: '', spendInput: 0, spendOutput: 0, keyBudgetId: null, keyInput: 0,
  keyOutput: 0, keyCost: 0, booked: null, sharedReply() { /* never admitted */ },
};

function bookedRow(args: LimitArgs, at: number): BookedSpend {
  return {
    totalTokens: args[at] as number, inputTokens: args[at + 1] as number, cacheReadTokens: args[at + 2] as number,
    cacheWriteTokens: args[at + 3] as number, outputTokens: args[at + 4] as number,
    reasoningTokens: args[at + 5] as number, costMicros: args[at + 6] as number,
  };
}
