import type { ServiceAccounting, SpendReservation } from '../../contracts/accounting.js';
import type { RequestSummary } from '../../dialects/types.js';
import { QuotaExceededError, RateLimitedError, UnpricedModelError, type GatewayError } from '../../errors.js';
import type { Family } from '../routing/endpoints.js';
import { rateHeaders } from './headers.js';
import { maxOutputTokens } from './max-tokens.js';
import type { RateLimiter } from './rate-limiter.js';
import type { UserLimits } from './user-limits.js';

/** What admission reads (the GatewayCore). */
export interface AdmissionSource {
  readonly accounting: ServiceAccounting;
  readonly serviceName: string;
  readonly limits: UserLimits;
}

/**
 * The spend policy of one exchange, at its two points: `admit` once the request is routed (before any upstream
 * request: unpriced models, the user's rate limits, token / request / cost budgets, each with the request's worst
 * case reserved) and `settle` once its row is booked (reservations given back, the real tokens counted). The
 * exchange calls only these two, and `headers` for the answer.
 */
export class Admission {
  reservation: SpendReservation | null = null;
  limiter: RateLimiter | null = null;
  /** Tokens reserved on the limiter (input estimate + max_tokens). */
  reserved = 0;

  /** The error to answer in the endpoint's dialect, or null to go on. */
  admit(
    source: AdmissionSource, family: Family, user: string | null, summary: RequestSummary, body: Buffer,
  ): GatewayError | null {
    const accounting = source.accounting;
    const model = summary.model;
    if (accounting.refusesUnpriced(model)) {
      return new UnpricedModelError(`model "${model}" has no price and this gateway refuses unpriced models`);
    }
    if (user === null) return null;
    const limiter = source.limits.get(user);
    const now = Date.now();
    if (limiter !== null) {
      const refusal = limiter.check(now);
      if (refusal !== null) {
        accounting.refused(user, source.serviceName);
        const err = new RateLimitedError(`user "${user}" is over its ${refusal.limit} limit`);
        err.retryAfterSeconds = Math.max(1, Math.ceil(refusal.retryAfterMs / 1000));
        err.headers = [];
        rateHeaders(family, limiter, now, err.headers);
        return err;
      }
    }
    const maxOutput = maxOutputTokens(body);
    const r = accounting.admitSpend(user, model, summary.estimatedPromptTokens, maxOutput);
    if (r !== null && 'reason' in r) {
      accounting.refused(user, source.serviceName);
      return new QuotaExceededError(`user "${user}" has used its ${r.budget ?? 'quota'} budget for this period`,
        r.reason);
    }
    this.reservation = r;
    if (limiter !== null) {
      this.limiter = limiter;
      this.reserved = summary.estimatedPromptTokens + maxOutput;
      limiter.take(now, this.reserved);
    }
    return null;
  }

  /** The rate-limit headers of a served answer (null: the user has no limits). */
  headers(family: Family): string[] | null {
    const limiter = this.limiter;
    if (limiter === null) return null;
    const out: string[] = [];
    rateHeaders(family, limiter, Date.now(), out);
    return out;
  }

  /**
   * The exchange's row was booked with `tokens`: reservations stop counting, the real tokens count (for the user's
   * limits and for the channel that answered).
   */
  settle(accounting: ServiceAccounting, tokens: number,
    channel: { readonly limiter: RateLimiter | null } | null): void {
    if (channel !== null && channel.limiter !== null && tokens > 0) channel.limiter.tokens.add(tokens, Date.now());
    const r = this.reservation;
    if (r !== null) {
      this.reservation = null;
      accounting.releaseSpend(r);
    }
    const limiter = this.limiter;
    if (limiter !== null) {
      this.limiter = null;
      limiter.settle(Date.now(), this.reserved, tokens);
    }
  }
}
