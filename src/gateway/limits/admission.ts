import type { ServiceAccounting } from '../../contracts/accounting.js';
import type { RequestSummary } from '../../dialects/types.js';
import { UnpricedModelError, type GatewayError } from '../../errors.js';

/**
 * The spend policy at its first point: a routed request, before any upstream request. Returns the error to answer
 * (in the endpoint's dialect) or null to go on. Each check is one policy; the exchange calls this once.
 */
export function admit(accounting: ServiceAccounting, user: string | null, summary: RequestSummary): GatewayError | null {
  void user;
  const model = summary.model;
  if (accounting.refusesUnpriced(model)) {
    return new UnpricedModelError(`model "${model}" has no price and this gateway refuses unpriced models`);
  }
  return null;
}
