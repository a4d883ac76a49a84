import type { ServiceAccounting, SpendReservation } from '../../contracts/accounting.js';
import type { RequestSummary } from '../../dialects/types.js';
import { QuotaExceededError, RateLimitedError, UnpricedModelError, type GatewayError } from '../../errors.js';
import type { Family } from '../routing/endpoints.js';
import { rateHeaders } from './headers.js';
import type { BookedSpend, KeyBudget } from './key-budget.js';
import { maxOutputTokens } from './max-tokens.js';
import type { KeyPolicy, SpendPolicies } from './policies.js';
import type { RateLimiter } from './rate-limiter.js';

/** What admission reads (the GatewayCore). */
export interface AdmissionSource {
  readonly accounting: ServiceAccounting;
  readonly serviceName: string;
  readonly policies: SpendPolicies;
}

/** The served answer's rate headers, reused: ClientWriter.head copies them before anything else runs. */
const SERVED_HEADERS: string[] = [];

/**
 * The spend policy of one exchange, at its two points: `admit` once the request is routed (before any upstream
 * request: unpriced models, the user's and the key's rate limits, token / request / cost budgets, each with the
 * request's worst case reserved) and `settle` once its row is booked (reservations given back, the real tokens
 * counted). A user and key without limits or budgets cost one map lookup (no clock, no body scan).
 */
export class Admission {
  reservation: SpendReservation | null = null;
  limiter: RateLimiter | null = null;
  /** The client key's own policy (a key written as an object), set by auth. */
  key: KeyPolicy | null = null;
  keyLimiter: RateLimiter | null = null;
  /** Tokens reserved on the limiters (input estimate + max_tokens). */
  reserved = 0;
  /** The key budget holding a reservation of input, output, cost (micro-units); null when none. */
  keyBudget: KeyBudget | null = null;
  keyInput = 0;
  keyOutput = 0;
  keyCost = 0;

  /** The error to answer in the endpoint's dialect, or null to go on. */
  admit(
    source: AdmissionSource, family: Family, user: string | null, summary: RequestSummary, body: Buffer,
  ): GatewayError | null {
    const accounting = source.accounting;
    const model = summary.model;
    if (accounting.refusesUnpriced(model)) {
      return new UnpricedModelError(`model "${model}" has no price and this gateway refuses unpriced models`);
    }
    const policy = user === null ? null : source.policies.user(user);
    const key = this.key;
    if (policy === null && key === null) return null;
    const now = Date.now();
    const limiter = policy === null ? null : policy.limiter;
    const keyLimiter = key === null ? null : key.limiter;
    if (limiter !== null) {
      const refused = limitRefusal(source, family, user, `user "${user}"`, limiter, now);
      if (refused !== null) return refused;
    }
    if (keyLimiter !== null) {
      const refused = limitRefusal(source, family, user, `key "${key!.name}"`, keyLimiter, now);
      if (refused !== null) return refused;
    }
    const budget = key === null ? null : key.budget;
    const needsOutput = (policy !== null && policy.budget) || budget !== null ||
      (limiter !== null && limiter.config.tpm !== null) || (keyLimiter !== null && keyLimiter.config.tpm !== null);
    const maxOutput = needsOutput ? maxOutputTokens(body) : 0;
    const input = summary.estimatedPromptTokens;
    if (budget !== null) {
      const used = budget.used(now);
      if (used !== null) {
        accounting.refused(user, source.serviceName);
        return new QuotaExceededError(`key "${key!.name}" has used its ${used} budget for this period`,
          'quota_exceeded');
      }
    }
    if (policy !== null && policy.budget) {
      const r = accounting.admitSpend(policy.id, model, input, maxOutput);
      if (r !== null && 'reason' in r) {
        accounting.refused(user, source.serviceName);
        return new QuotaExceededError(`user "${user}" has used its ${r.budget ?? 'quota'} budget for this period`,
          r.reason);
      }
      this.reservation = r;
    }
    if (budget !== null) {
      const cost = Math.max(accounting.cost(model, input, 0, 0, maxOutput, 0),
        accounting.cost(model, input, 0, 0, 0, maxOutput));
      this.keyBudget = budget;
      this.keyInput = input;
      this.keyOutput = maxOutput;
      this.keyCost = cost < 0 ? 0 : cost;
      budget.reserve(input, maxOutput, this.keyCost);
    }
    this.reserved = input + maxOutput;
    if (limiter !== null) {
      this.limiter = limiter;
      limiter.take(now, this.reserved);
    }
    if (keyLimiter !== null) {
      this.keyLimiter = keyLimiter;
      keyLimiter.take(now, this.reserved);
    }
    return null;
  }

  /** The rate-limit headers of a served answer (the key's limits, else the user's; null: none). */
  headers(family: Family): string[] | null {
    const limiter = this.keyLimiter ?? this.limiter;
    if (limiter === null) return null;
    SERVED_HEADERS.length = 0;
    rateHeaders(family, limiter, Date.now(), SERVED_HEADERS);
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
    const limiter = this.limiter;
    const keyLimiter = this.keyLimiter;
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
}

/** The 429 of a limiter without room (counted as refused), else null. */
function limitRefusal(
  source: AdmissionSource, family: Family, user: string | null, who: string, limiter: RateLimiter, now: number,
): RateLimitedError | null {
  const refusal = limiter.check(now);
  if (refusal === null) return null;
  source.accounting.refused(user, source.serviceName);
  const err = new RateLimitedError(`${who} is over its ${refusal.limit} limit`);
  err.retryAfterSeconds = Math.max(1, Math.ceil(refusal.retryAfterMs / 1000));
  err.headers = [];
  rateHeaders(family, limiter, now, err.headers);
  return err;
}
