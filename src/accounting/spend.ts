import type { BudgetStatus } from '../contracts/admin-api.js';
import type { QuotaConfig } from '../config/types.js';
import type { SpendReservation } from '../contracts/accounting.js';
import type { PriceTable } from './price-table.js';
import type { Counters } from './delta.js';
import type { UserAccount } from './subject.js';

export type { BudgetStatus };

/** What a budget is checked against: the period's booked figures and the running requests' worst cases. */
export interface SpendState {
  readonly spent: Counters;
  reservedInput: number;
  reservedOutput: number;
  reservedRequests: number;
  reservedCost: number;
}

/**
 * An admitted gateway request's worst case, counted as spent by its user's budgets until the request is booked:
 * input = the request's estimate, output = its max_tokens, cost = both at the model's prices, one request.
 */
export class Reservation implements SpendReservation {
  readonly user: UserAccount;
  readonly input: number;
  readonly output: number;
  readonly cost: number;

  constructor(user: UserAccount, input: number, output: number, cost: number) {
    this.user = user;
    this.input = input;
    this.output = output;
    this.cost = cost;
  }
}

/** Whether the quota sets any gateway budget (tokens, requests or cost). */
export function hasSpendBudget(q: QuotaConfig | null): q is QuotaConfig {
  return q !== null && (q.tokens !== null || q.requests !== null || q.costMicros !== null);
}

/**
 * Which budget of the user's current period is used up, counting the reservations of requests still running; null
 * when none is. A request is admitted while its budget is not used up, so a budget is overshot by at most the worst
 * case of the requests admitted last (see README, Budgets).
 */
export function spentBudget(user: SpendState, q: QuotaConfig): string | null {
  const s = user.spent;
  if (q.requests !== null && s.requests + user.reservedRequests >= q.requests) return 'requests';
  if (q.costMicros !== null && s.costMicros + user.reservedCost >= q.costMicros) return 'cost';
  const t = q.tokens;
  if (t === null) return null;
  if (t.total !== null && s.tokens + user.reservedInput + user.reservedOutput >= t.total) return 'tokens';
  if (t.input !== null && s.inputTokens + user.reservedInput >= t.input) return 'input tokens';
  if (t.output !== null && s.outputTokens + user.reservedOutput >= t.output) return 'output tokens';
  if (t.cacheRead !== null && s.cacheReadTokens >= t.cacheRead) return 'cache read tokens';
  if (t.cacheWrite !== null && s.cacheWriteTokens >= t.cacheWrite) return 'cache write tokens';
  if (t.reasoning !== null && s.reasoningTokens >= t.reasoning) return 'reasoning tokens';
  return null;
}

/** A request's worst-case cost in micro-units: its input, and its whole output at the dearer of output / reasoning. */
export function worstCost(prices: PriceTable, model: string, input: number, output: number): number {
  const price = prices.lookup(model);
  return price === null ? 0 : Math.round(input * price.input + output * Math.max(price.output, price.reasoning));
}

/** Reserves a request's worst case on its user. */
export function reserve(user: UserAccount, prices: PriceTable, model: string, input: number,
  output: number): Reservation {
  const cost = worstCost(prices, model, input, output);
  user.reservedInput += input;
  user.reservedOutput += output;
  user.reservedRequests++;
  user.reservedCost += cost;
  return new Reservation(user, input, output, cost);
}

/** The request was booked (its real figures are in `spent`): its worst case no longer counts. */
export function release(r: Reservation): void {
  const user = r.user;
  user.reservedInput -= r.input;
  user.reservedOutput -= r.output;
  user.reservedRequests--;
  user.reservedCost -= r.cost;
}

/** Every budget of `q` with what is used, reserved and left in the current period. */
export function budgetStatus(state: SpendState, q: QuotaConfig): BudgetStatus[] {
  const out: BudgetStatus[] = [];
  const s = state.spent;
  const add = (budget: string, limit: number | null, used: number, reserved: number): void => {
    if (limit !== null) out.push({ budget, limit, used, reserved, remaining: Math.max(0, limit - used - reserved) });
  };
  add('requests', q.requests, s.requests, state.reservedRequests);
  add('costMicros', q.costMicros, s.costMicros, state.reservedCost);
  const t = q.tokens;
  if (t !== null) {
    add('tokens', t.total, s.tokens, state.reservedInput + state.reservedOutput);
    add('inputTokens', t.input, s.inputTokens, state.reservedInput);
    add('outputTokens', t.output, s.outputTokens, state.reservedOutput);
    add('cacheReadTokens', t.cacheRead, s.cacheReadTokens, 0);
    add('cacheWriteTokens', t.cacheWrite, s.cacheWriteTokens, 0);
    add('reasoningTokens', t.reasoning, s.reasoningTokens, 0);
  }
  return out;
}
