import type { RelayMeter } from './meter.js';
import type { BookedSpend, GatewayUsage } from './records.js';
import type { ByteBudget, RateLimit } from './rate.js';
import type { Relay, RelayResult } from './relay-engine.js';

import type { QuotaConfig } from '../config/types.js';
import type { BudgetStatus, CountersBody, RefusalReason } from './admin-api.js';

export type { BookedSpend, RefusalReason };

/** Why a connection or request was refused (`tidegate_refused_total{service, reason}`); `quota` when unsaid. */
export type RefusedReason = RefusalReason | 'quota' | 'rate_limited' | 'unpriced_model' | 'key_expired';

/** An admitted gateway request's worst case, held against its user's budgets until the request is booked. */
export interface SpendReservation {
  readonly input: number;
  readonly output: number;
  readonly cost: number;
}

/** Why a user may not start a connection or request now. */
export interface Refusal {
  readonly reason: RefusalReason;
  readonly user: string;
  /** Which gateway budget is used up (`tokens`, `requests`, `cost`…); absent for byte quotas and expiry. */
  readonly budget?: string;
}

/**
 * What services get from accounting (through `ServiceContext.accounting`). Every call is synchronous and cheap:
 * admission and quota checks read memory only (Redis and SQLite are synced in the background).
 */
export interface ServiceAccounting {
  /** null when `user` may start a connection or request now; else why not. Users without a quota always pass. */
  check(user: string | null): Refusal | null;
  /** Counts a refused connection or request. */
  refused(user: string | null, service: string, reason?: RefusedReason): void;
  /** The bandwidth limit a new relay shares (the user's, else the service's), or null. */
  rateLimit(user: string | null, service: string): RateLimit | null;
  /** The user's quota budget a new relay shares (the engine stops the relay where the quota ends), or null. */
  byteBudget(user: string | null): ByteBudget | null;
  /** Starts metering a live relay: its counters are sampled while it runs. */
  relayStarted(user: string | null, service: string, relay: Relay): RelayMeter;
  /** Counts what the relay moved since the last sample; returns the reason accounting cut it for, if it did. */
  relayEnded(meter: RelayMeter, result: RelayResult): string | null;
  /** Counts one gateway request and its tokens. */
  addRequest(user: string | null, service: string, tokens: number): void;
  /** Counts one finished gateway request: its bytes (for the service), tokens by class and cost. */
  addGatewayUsage(usage: GatewayUsage): void;
  /**
   * The cost of a gateway request in micro-units of the price currency, or -1 when its model has no price (counted
   * as unpriced).
   */
  cost(model: string | null, input: number, cacheRead: number, cacheWrite: number, output: number,
    reasoning: number): number;
  /** A request's worst-case cost (input + max output at the model's prices), not counted anywhere; 0 unpriced. */
  worstCost(model: string, input: number, maxOutput: number): number;
  /** `unpriced: refuse` and `model` has no price: the request is refused before any upstream. */
  refusesUnpriced(model: string): boolean;
  /**
   * Budgets (tokens, requests, cost) before a gateway request goes upstream: the refusal when one is used up
   * (reservations of running requests count), else the request's worst case reserved (null: the user has none).
   */
  admitSpend(user: string, model: string, inputEstimate: number, maxOutput: number): SpendReservation | Refusal | null;
  /** Gives back a reservation once its request was booked (addGatewayUsage), however it ended. */
  releaseSpend(reservation: SpendReservation): void;
  /** Counts a client connection a gateway accepted. */
  connectionOpened(service: string): void;
  /**
   * The budgets of client key `id` (`<service>:k:<user>/<name>`) with `quota`, kept across reloads and, through the
   * ledger (and Redis), across restarts; the same object for the same id.
   */
  keySpend(id: string, quota: QuotaConfig): KeySpend;
  /** Gateway rate limits shared through Redis (`store.redis`); null: each process limits alone. */
  readonly sharedLimits: SharedLimits | null;
}

/**
 * Gateway rate limits shared beyond this process: by every instance through Redis (`store.redis`), or by a worker
 * fleet through its primary (src/cluster/). Admissions of one event-loop turn go out together and each is checked and
 * taken atomically on each subject's sliding minute windows (a user's, a key's).
 */
export interface SharedLimits {
  /** The store answers: admissions go there; false: each process limits alone until it is back (local fallback). */
  readonly up: boolean;
  /**
   * The store also holds the `concurrent` counts and the user's and key's budget reservations (a fleet's primary):
   * admissions with only a budget go there too, and the owner's spend fields are read (SharedSpend).
   */
  readonly budgets: boolean;
  /**
   * Checks `subjects` (0 to 2 window ids, each with its rpm, tpm and concurrent in `limits`, 0 = none) and, when all
   * have room, takes one request and `reserved` tokens on each; `owner.sharedReply` is called once.
   */
  admit(owner: SharedLimitOwner, subjects: readonly string[], limits: readonly number[], reserved: number): void;
  /**
   * A request admitted through `admit` was booked (or abandoned): `delta` tokens (booked − reserved) on each
   * subject's window (summed per subject and sent in the background); a store with `budgets` also releases the
   * owner's concurrent counts and reservations and books `owner.booked` on its key budget.
   */
  settle(subjects: readonly string[], delta: number, owner: SharedLimitOwner): void;
  /**
   * A store with `budgets`: a request it did not answer in time (decided locally) was booked on the key budget
   * `keyBudgetId`; the store books the spend on its own budget too (which its ledger keeps).
   */
  bookKey?(keyBudgetId: string, row: BookedSpend): void;
}

/** Told the outcome of a shared admission (the gateway's Admission); its spend fields are read by `budgets` stores. */
export interface SharedLimitOwner {
  /** The store's id of this admission while it holds something for it (set by the store). */
  sharedSeq: number;
  /** The user whose budget is reserved (null: none), the model and the worst case (input, max output). */
  readonly spendUser: string | null;
  readonly spendModel: string;
  readonly spendInput: number;
  readonly spendOutput: number;
  /** The key budget's id (null: none) and its reservation (input, output, cost in micro-units). */
  readonly keyBudgetId: string | null;
  readonly keyInput: number;
  readonly keyOutput: number;
  readonly keyCost: number;
  /** While `settle` runs: the booked figures (null: nothing was booked). */
  readonly booked: BookedSpend | null;
  /**
   * `windows` null: the store failed, decide locally. Else `refused` is 0 (taken) or the 1-based subject whose limit
   * refused, `limit` 1 (rpm), 2 (tpm), 3 (concurrent), 4 (the user's budget) or 5 (the key's budget; `budget` names
   * the one used up), and `windows` from `at` holds per subject: window start, requests now, requests last window,
   * tokens now, tokens last window.
   */
  sharedReply(refused: number, limit: number, windows: readonly number[] | null, at: number, budget?: string): void;
}

/** What `GET /users/:id/usage` shows of a key's budgets. */
export interface KeySpendStatus {
  readonly period: string;
  readonly spent: CountersBody;
  readonly budgets: readonly BudgetStatus[];
}

/** A client key's own gateway budgets (`keys[].quota`) for the current period, held by accounting. */
export interface KeySpend {
  /** Replaced in place on reload. */
  quota: QuotaConfig;
  /** The budget used up in the period of `now` (reservations of running requests counted), else null. */
  used(now: number): string | null;
  /** Holds a request's worst case until it is settled. */
  reserve(input: number, output: number, cost: number): void;
  /** A reservation ends with the request's booked figures (null: it was refused, nothing was booked). */
  settle(input: number, output: number, cost: number, row: BookedSpend | null): void;
  status(now: number): KeySpendStatus;
}
