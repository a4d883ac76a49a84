import type { ServiceAccounting, SpendReservation } from '../../contracts/accounting.js';
import type { RequestSummary } from '../../dialects/types.js';
import { QuotaExceededError, UnpricedModelError, type GatewayError } from '../../errors.js';
import { maxOutputTokens } from './max-tokens.js';

/**
 * The spend policy of one exchange, at its two points: `admit` once the request is routed (before any upstream
 * request: unpriced models, token / request / cost budgets with the worst case reserved) and `settle` once its row
 * is booked (the reservation given back). Each check is a policy behind accounting's contract; the exchange only
 * calls these two.
 */
export class Admission {
  reservation: SpendReservation | null = null;

  /** The error to answer in the endpoint's dialect, or null to go on. */
  admit(
    accounting: ServiceAccounting, service: string, user: string | null, summary: RequestSummary, body: Buffer,
  ): GatewayError | null {
    const model = summary.model;
    if (accounting.refusesUnpriced(model)) {
      return new UnpricedModelError(`model "${model}" has no price and this gateway refuses unpriced models`);
    }
    if (user === null) return null;
    const r = accounting.admitSpend(user, model, summary.estimatedPromptTokens, maxOutputTokens(body));
    if (r === null) return null;
    if ('reason' in r) {
      accounting.refused(user, service);
      return new QuotaExceededError(`user "${user}" has used its ${r.budget ?? 'quota'} budget for this period`, r.reason);
    }
    this.reservation = r;
    return null;
  }

  /** The exchange's row was booked: its worst case stops counting against the budgets. */
  settle(accounting: ServiceAccounting): void {
    const r = this.reservation;
    if (r === null) return;
    this.reservation = null;
    accounting.releaseSpend(r);
  }
}
