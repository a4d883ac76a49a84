import type {
  BookedSpend, KeySpend, ServiceAccounting, SharedLimitOwner, SpendReservation,
} from '../../contracts/accounting.js';
import type { RequestSummary } from '../../dialects/types.js';
import { QuotaExceededError, RateLimitedError, UnpricedModelError, type GatewayError } from '../../errors.js';
import type { Family } from '../routing/endpoints.js';
import { rateHeaders } from './headers.js';
import { maxOutputTokens } from './max-tokens.js';
import type { KeyPolicy, SpendPolicies, UserPolicy } from './policies.js';
import type { RateLimiter } from './rate-limiter.js';

/** What admission reads (the GatewayCore). */
export interface AdmissionSource {
  readonly accounting: ServiceAccounting;
  readonly serviceName: string;
  readonly policies: SpendPolicies;
}

/** Told the outcome of an admission that waited for Redis (the Exchange). */
/** The request body, in one buffer only when asked (a large body may be kept in parts until then). */
export interface AdmissionBody {
  bytes(): Buffer;
}

export interface AdmissionOwner {
  admitted(refusal: GatewayError | null): void;
}

/** `admit`'s answer when the shared limits are asked: the owner hears `admitted` later. */
export const ADMISSION_PENDING = 'pending';

/**
 * The served answer's rate headers, reused: ClientWriter.head copies them before anything else runs. Written by
 * index and cut only when the count changes (a `length = 0` each answer would free and regrow its store).
 */
const SERVED_HEADERS: string[] = [];
/** Scratch lists for the shared store (it copies them at once): subject ids; rpm, tpm, concurrent per subject. */
const SUBJECTS: string[] = [];
const LIMITS: number[] = [];
/** A shared store's `limit` numbers as names (1 rpm, 2 tpm, 3 concurrent). */
const LIMIT_NAMES = ['', 'rpm', 'tpm', 'concurrent'];

/**
 * The spend policy of one exchange, at its two points: `admit` once the request is routed (before any upstream
 * request: unpriced models, the user's and the key's rate limits, token / request / cost budgets, each with the
 * request's worst case reserved) and `settle` once its row is booked (reservations given back, the real tokens
 * counted). A user and key without limits or budgets cost one map lookup (no clock, no body scan). With
 * `store.redis` the rpm / tpm windows are checked and taken in Redis (one script call; `concurrent` counts per
 * process), and in this process while Redis is down. In a worker fleet the primary holds the windows, the
 * `concurrent` counts and the budget reservations of every worker (`SharedLimits.budgets`): the local checks run
 * first, then the primary's (one message per event-loop turn).
 */
export class Admission implements SharedLimitOwner {
  reservation: SpendReservation | null = null;
  limiter: RateLimiter | null = null;
  /** The client key's own policy (a key written as an object), set by auth. */
  key: KeyPolicy | null = null;
  keyLimiter: RateLimiter | null = null;
  /** Tokens reserved on the limiters (input estimate + max_tokens). */
  reserved = 0;
  /** The key budget holding a reservation of input, output, cost (micro-units); null when none. */
  keyBudget: KeySpend | null = null;
  keyInput = 0;
  keyOutput = 0;
  keyCost = 0;
  /** While Redis is asked: what the reply needs. */
  owner: AdmissionOwner | null = null;
  source: AdmissionSource | null = null;
  family: Family = 'openai';
  user: string | null = null;
  userPolicy: UserPolicy | null = null;
  /** The windows were taken in Redis: settle there too. */
  shared = false;
  /** The exchange ended while Redis was asked: the reply only gives back what it took. */
  abandoned = false;
  /** For a shared store that holds budgets (SharedLimitOwner): its id, the user's and key's worst cases. */
  sharedSeq = 0;
  spendUser: string | null = null;
  spendModel = '';
  spendInput = 0;
  spendOutput = 0;
  keyBudgetId: string | null = null;
  booked: BookedSpend | null = null;

  /** The error to answer in the endpoint's dialect, null to go on, or ADMISSION_PENDING (see AdmissionOwner). */
  admit(
    source: AdmissionSource, family: Family, user: string | null, summary: RequestSummary, body: AdmissionBody,
    owner: AdmissionOwner,
  ): GatewayError | null | typeof ADMISSION_PENDING {
    const accounting = source.accounting;
    const model = summary.model;
    if (accounting.refusesUnpriced(model)) {
      accounting.refused(user, source.serviceName, 'unpriced_model');
      return new UnpricedModelError(`model "${model}" has no price and this gateway refuses unpriced models`);
    }
    const policy = user === null ? null : source.policies.user(user);
    const key = this.key;
    if (policy === null && key === null) return null;
    const now = Date.now();
    const limiter = policy === null ? null : policy.limiter;
    const keyLimiter = key === null ? null : key.limiter;
    const budget = key === null ? null : key.budget;
    const userBudget = policy !== null && policy.budget;
    const shared = accounting.sharedLimits;
    const remote = shared !== null && shared.up && (limiter !== null || keyLimiter !== null ||
      (shared.budgets && (userBudget || budget !== null)));
    // Locally: every limit now. Shared: only `concurrent` here (rpm / tpm in Redis, after the budgets).
    if (limiter !== null) {
      const refused = limitRefusal(source, family, user, null, limiter, now, remote);
      if (refused !== null) return refused;
    }
    if (keyLimiter !== null) {
      const refused = limitRefusal(source, family, user, key!.name, keyLimiter, now, remote);
      if (refused !== null) return refused;
    }
    const needsOutput = userBudget || budget !== null ||
      (limiter !== null && limiter.config.tpm !== null) || (keyLimiter !== null && keyLimiter.config.tpm !== null);
    const maxOutput = needsOutput ? maxOutputTokens(body.bytes()) : 0;
    const input = summary.estimatedPromptTokens;
    if (budget !== null) {
      const used = budget.used(now);
      if (used !== null) {
        accounting.refused(user, source.serviceName, 'quota_exceeded');
        return new QuotaExceededError(`key "${key!.name}" has used its ${used} budget for this period`,
          'quota_exceeded');
      }
    }
    if (userBudget) {
      const r = accounting.admitSpend(policy.id, model, input, maxOutput);
      if (r !== null && 'reason' in r) {
        accounting.refused(user, source.serviceName, 'quota_exceeded');
        return new QuotaExceededError(`user "${user}" has used its ${r.budget ?? 'quota'} budget for this period`,
          r.reason);
      }
      this.reservation = r;
    }
    if (budget !== null) {
      this.keyBudget = budget;
      this.keyInput = input;
      this.keyOutput = maxOutput;
      this.keyCost = budget.quota.costMicros === null ? 0 : accounting.worstCost(model, input, maxOutput);
      budget.reserve(input, maxOutput, this.keyCost);
    }
    this.reserved = input + maxOutput;
    this.limiter = limiter;
    this.keyLimiter = keyLimiter;
    if (!remote) {
      this.take(now);
      return null;
    }
    // `concurrent` counts per process: taken now, so admissions waiting for Redis count too.
    if (limiter !== null) limiter.live++;
    if (keyLimiter !== null) keyLimiter.live++;
    this.owner = owner;
    this.source = source;
    this.family = family;
    this.user = user;
    this.userPolicy = policy;
    if (shared.budgets) {
      this.spendUser = userBudget ? policy!.id : null;
      this.spendModel = model;
      this.spendInput = input;
      this.spendOutput = maxOutput;
      this.keyBudgetId = budget === null ? null : key!.sharedId;
    }
    this.subjects();
    shared.admit(this, SUBJECTS, LIMITS, this.reserved);
    return ADMISSION_PENDING;
  }

  /** The shared store answered (`windows` null: it failed; this process decides alone). */
  sharedReply(refused: number, limit: number, windows: readonly number[] | null, at: number, budget?: string): void {
    const owner = this.owner!;
    const source = this.source!;
    this.owner = null;
    this.source = null;
    const now = Date.now();
    // The live counts taken at admission go back here; taken again below when the request goes on.
    if (this.limiter !== null) this.limiter.live--;
    if (this.keyLimiter !== null) this.keyLimiter.live--;
    if (this.abandoned) {
      // The exchange already settled its budgets; give back what the shared store took for it.
      if (windows !== null && refused === 0) {
        this.subjects();
        source.accounting.sharedLimits?.settle(SUBJECTS, -this.reserved, this);
      }
      this.limiter = this.keyLimiter = null;
      this.spendUser = this.keyBudgetId = null;
      return;
    }
    if (windows !== null) {
      // Mirror the shared windows: served headers, /status and a later local fallback read them.
      if (this.limiter !== null) at = mirror(this.limiter, windows, at);
      if (this.keyLimiter !== null) mirror(this.keyLimiter, windows, at);
    }
    let refusal: GatewayError | null = null;
    if (windows !== null && limit >= 4) {
      // The primary holds every worker's reservations: the budget is used up across them.
      source.accounting.refused(this.user, source.serviceName, 'quota_exceeded');
      const who = limit === 4 ? `user "${this.user}"` : `key "${this.key!.name}"`;
      refusal = new QuotaExceededError(`${who} has used its ${budget ?? 'quota'} budget for this period`,
        'quota_exceeded');
    } else if (windows === null || refused !== 0) {
      const user = this.user;
      const family = this.family;
      // Redis named the subject (1: the first of the list), else check both here (local fallback).
      const first = this.limiter !== null ? 'user' : 'key';
      const which = windows === null ? 0 : refused === 1 ? (first === 'user' ? 1 : 2) : 2;
      if (this.limiter !== null && (which === 0 || which === 1)) {
        refusal = limitRefusal(source, family, user, null, this.limiter, now, false);
      }
      if (refusal === null && this.keyLimiter !== null && (which === 0 || which === 2)) {
        refusal = limitRefusal(source, family, user, this.key!.name, this.keyLimiter, now, false);
      }
      if (refusal === null && windows !== null) {
        // Redis refused where this process's mirror (its clock) sees room: Redis is the judge.
        const err = new RateLimitedError(`${which === 1 ? `user "${user}"` : `key "${this.key!.name}"`} is over ` +
          `its ${LIMIT_NAMES[limit] ?? 'rpm'} limit`);
        err.retryAfterSeconds = 1;
        refusal = err;
        source.accounting.refused(user, source.serviceName, 'rate_limited');
      }
    }
    if (refusal !== null) {
      this.release(source.accounting);
      this.limiter = this.keyLimiter = null;
      this.spendUser = this.keyBudgetId = null;
      owner.admitted(refusal);
      return;
    }
    if (windows === null) this.take(now);
    else {
      this.shared = true;
      if (this.limiter !== null) this.limiter.live++;
      if (this.keyLimiter !== null) this.keyLimiter.live++;
    }
    owner.admitted(null);
  }

  /** The rate-limit headers of a served answer (the key's limits, else the user's; null: none). */
  headers(family: Family): string[] | null {
    const limiter = this.keyLimiter ?? this.limiter;
    if (limiter === null) return null;
    const n = rateHeaders(family, limiter, Date.now(), SERVED_HEADERS, 0);
    if (SERVED_HEADERS.length !== n) SERVED_HEADERS.length = n;
    return SERVED_HEADERS;
  }

  /**
   * The exchange's row was booked: reservations stop counting, the real tokens count (for the user's and key's
   * limits and budgets, and for the channel that answered).
   */
  settle(
    accounting: ServiceAccounting, row: BookedSpend, channel: { readonly limiter: RateLimiter | null } | null,
  ): void {
    const tokens = row.totalTokens ?? 0;
    if (channel !== null && channel.limiter !== null && tokens > 0) channel.limiter.tokens.add(tokens, Date.now());
    this.release(accounting, row);
    if (this.owner !== null) {
      // Still waiting for Redis: the reply gives back what it took.
      this.abandoned = true;
      return;
    }
    const limiter = this.limiter;
    const keyLimiter = this.keyLimiter;
    if (this.shared) {
      this.shared = false;
      this.subjects();
      this.booked = row;
      accounting.sharedLimits?.settle(SUBJECTS, tokens - this.reserved, this);
      this.booked = null;
      this.spendUser = this.keyBudgetId = null;
    } else if (this.keyBudgetId !== null) {
      // The shared store did not answer and this process decided alone: the store's key budget (and its ledger)
      // books the spend too, else it would be lost when this process ends.
      accounting.sharedLimits?.bookKey?.(this.keyBudgetId, row);
      this.spendUser = this.keyBudgetId = null;
    }
    if (limiter === null && keyLimiter === null) return;
    const now = Date.now();
    if (limiter !== null) {
      this.limiter = null;
      limiter.settle(now, this.reserved, tokens);
    }
    if (keyLimiter !== null) {
      this.keyLimiter = null;
      keyLimiter.settle(now, this.reserved, tokens);
    }
  }

  /** Gives back the budget reservations (with the booked row when there is one). */
  private release(accounting: ServiceAccounting, row: BookedSpend | null = null): void {
    const r = this.reservation;
    if (r !== null) {
      this.reservation = null;
      accounting.releaseSpend(r);
    }
    const keyBudget = this.keyBudget;
    if (keyBudget !== null) {
      this.keyBudget = null;
      keyBudget.settle(this.keyInput, this.keyOutput, this.keyCost, row);
    }
  }

  private take(now: number): void {
    if (this.limiter !== null) this.limiter.take(now, this.reserved);
    if (this.keyLimiter !== null) this.keyLimiter.take(now, this.reserved);
  }

  /**
   * The shared windows of this request's limiters into SUBJECTS / LIMITS (user first, then key), written by index and
   * cut only when the count changes (a `length = 0` per request would free and regrow their stores).
   */
  private subjects(): void {
    let n = 0;
    if (this.limiter !== null) n = put(n, this.userPolicy!.sharedId, this.limiter);
    if (this.keyLimiter !== null) n = put(n, this.key!.sharedId, this.keyLimiter);
    if (SUBJECTS.length !== n) {
      SUBJECTS.length = n;
      LIMITS.length = 3 * n;
    }
  }
}

/** Subject `n`'s id and rpm / tpm / concurrent (0: none) into SUBJECTS / LIMITS; returns the next index. */
function put(n: number, id: string, limiter: RateLimiter): number {
  const c = limiter.config;
  SUBJECTS[n] = id;
  LIMITS[3 * n] = c.rpm ?? 0;
  LIMITS[3 * n + 1] = c.tpm ?? 0;
  LIMITS[3 * n + 2] = c.concurrent ?? 0;
  return n + 1;
}

/** Copies one subject's shared windows (start, requests now / last, tokens now / last) into its local limiter. */
function mirror(limiter: RateLimiter, w: readonly number[], at: number): number {
  limiter.requests.start = limiter.tokens.start = w[at]!;
  limiter.requests.current = w[at + 1]!;
  limiter.requests.previous = w[at + 2]!;
  limiter.tokens.current = w[at + 3]!;
  limiter.tokens.previous = w[at + 4]!;
  return at + 5;
}

/**
 * The 429 of a limiter without room (counted as refused), else null; `concurrentOnly` when Redis holds the rest.
 * `keyName` null: the user's limiter. The subject's text is made only when refused.
 */
function limitRefusal(
  source: AdmissionSource, family: Family, user: string | null, keyName: string | null, limiter: RateLimiter,
  now: number, concurrentOnly: boolean,
): RateLimitedError | null {
  const refusal = concurrentOnly ? limiter.checkConcurrent() : limiter.check(now);
  if (refusal === null) return null;
  source.accounting.refused(user, source.serviceName, 'rate_limited');
  const who = keyName === null ? `user "${user}"` : `key "${keyName}"`;
  const err = new RateLimitedError(`${who} is over its ${refusal.limit} limit`);
  err.retryAfterSeconds = Math.max(1, Math.ceil(refusal.retryAfterMs / 1000));
  err.headers = [];
  rateHeaders(family, limiter, now, err.headers, 0);
  return err;
}
