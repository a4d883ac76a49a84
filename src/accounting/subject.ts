import type { QuotaConfig, UserConfig } from '../config/schema.js';
import type { RateLimit } from '../contracts/rate.js';
import type { Relay } from '../contracts/relay-engine.js';
import { Counters, Delta } from './delta.js';
import { ALL_TIME, periodKey } from './period.js';
import type { QuotaBudget } from './quota-budget.js';
import { SlotList } from '../util/slot-list.js';

/** `key`: a client key's gateway budgets in one gateway service (key-account.ts). */
export type SubjectKind = 'user' | 'service' | 'key';

/**
 * What accounting keeps for one user or service: live meters of this process, the durable totals the ledger
 * holds, and the deltas not yet written to the ledger (and to Redis). Deltas of an ended period are carried until
 * written, so a flush that fails across a period boundary still books them to the right period.
 */
export class Subject {
  readonly kind: SubjectKind;
  readonly id: string;
  /** Counted by this process since it started (live relays included as sampled). */
  readonly live = new Counters();
  /** All-time totals in the durable ledger (loaded at start, advanced by each successful flush). */
  readonly durable = new Counters();
  /** Not yet in the ledger. */
  pending: Delta;
  /** Ended-period deltas not yet in the ledger. */
  carried: Delta[] = [];
  /** Queued for the ledger. */
  dirty = false;
  /** Not yet sent to Redis. */
  redisPending: Delta;
  /** Ended-period deltas not yet sent to Redis. */
  redisCarried: Delta[] = [];
  /** Queued for Redis. */
  redisDirty = false;
  /** Connections and requests refused for quota (this process). */
  refused = 0;

  constructor(kind: SubjectKind, id: string, period: string) {
    this.kind = kind;
    this.id = id;
    this.pending = new Delta(period);
    this.redisPending = new Delta(period);
  }

  /** Counts a delta in the live meters and the unsent deltas of `period`. */
  record(
    period: string, bytesIn: number, bytesOut: number, connections: number, requests: number, tokens: number,
  ): void {
    this.live.add(bytesIn, bytesOut, connections, requests, tokens);
    if (this.pending.period !== period) this.pending = rollOver(this.pending, this.carried, period);
    this.pending.add(bytesIn, bytesOut, connections, requests, tokens);
    if (this.redisPending.period !== period) this.redisPending = rollOver(this.redisPending, this.redisCarried, period);
    this.redisPending.add(bytesIn, bytesOut, connections, requests, tokens);
  }

  /** Token classes and cost of a gateway request, counted where record() counted its tokens. */
  recordTokens(input: number, cacheRead: number, cacheWrite: number, output: number, reasoning: number,
    cost: number): void {
    this.live.addTokens(input, cacheRead, cacheWrite, output, reasoning, cost);
    this.pending.addTokens(input, cacheRead, cacheWrite, output, reasoning, cost);
    this.redisPending.addTokens(input, cacheRead, cacheWrite, output, reasoning, cost);
  }
}

function rollOver(current: Delta, carried: Delta[], period: string): Delta {
  if (current.isZero()) {
    current.period = period;
    return current;
  }
  carried.push(current);
  return new Delta(period);
}

/** A relay being metered: its counters are sampled, and the part not yet counted is counted at close. */
export class MeteredRelay {
  readonly relay: Relay;
  readonly user: UserAccount | null;
  readonly service: Subject;
  countedIn = 0;
  countedOut = 0;
  /** Set when accounting closed the relay (quota): the record carries this reason. */
  cutReason: string | null = null;
  /** The user's quota budget the relay was started with, or null. */
  readonly budget: QuotaBudget | null;
  /** Indexes in Accounting's and the user's lists of live relays. */
  slot = -1;
  userSlot = -1;

  constructor(relay: Relay, user: UserAccount | null, service: Subject) {
    this.relay = relay;
    this.user = user;
    this.service = service;
    this.budget = user === null ? null : user.budget;
  }
}

/** A user: a Subject plus quota usage for the current period, live relays and the shared bandwidth limit. */
export class UserAccount extends Subject {
  config: UserConfig;
  /** Quota period the usage below belongs to. */
  usedPeriod: string;
  /** Best-known usage in `usedPeriod`: this instance's counts, plus other instances' when Redis is on. */
  usedIn = 0;
  usedOut = 0;
  readonly relays = new SlotList<MeteredRelay, 'userSlot'>('userSlot');
  rateLimit: RateLimit | null = null;
  /** The quota as the relay engine enforces it; null without a quota. */
  budget: QuotaBudget | null = null;
  /** Gateway requests, tokens and cost of `usedPeriod` (this instance's counts and the ledger's). */
  readonly spent = new Counters();
  /** The worst case of this user's admitted gateway requests still running (budgets count them as spent). */
  reservedInput = 0;
  reservedOutput = 0;
  reservedRequests = 0;
  reservedCost = 0;

  constructor(config: UserConfig, now: number) {
    const period = periodKey(config.quota, now);
    super('user', config.id, period);
    this.config = config;
    this.usedPeriod = period;
  }

  get quota(): QuotaConfig | null {
    return this.config.quota;
  }

  /** The current period key; usage resets when it changes. */
  period(now: number): string {
    const period = periodKey(this.config.quota, now);
    if (period !== this.usedPeriod) {
      this.usedPeriod = period;
      this.usedIn = 0;
      this.usedOut = 0;
      this.spent.clear();
    }
    return period;
  }

  override record(
    period: string, bytesIn: number, bytesOut: number, connections: number, requests: number, tokens: number,
  ): void {
    super.record(period, bytesIn, bytesOut, connections, requests, tokens);
    if (period === this.usedPeriod) this.spent.add(0, 0, 0, requests, tokens);
  }

  override recordTokens(
    input: number, cacheRead: number, cacheWrite: number, output: number, reasoning: number, cost: number,
  ): void {
    super.recordTokens(input, cacheRead, cacheWrite, output, reasoning, cost);
    this.spent.addTokens(input, cacheRead, cacheWrite, output, reasoning, cost);
  }

  /** Bytes used in the current period in the quota's direction. */
  used(): number {
    const q = this.config.quota;
    if (q === null || q.direction === 'total') return this.usedIn + this.usedOut;
    return q.direction === 'in' ? this.usedIn : this.usedOut;
  }
}

export function serviceSubject(name: string): Subject {
  return new Subject('service', name, ALL_TIME);
}
