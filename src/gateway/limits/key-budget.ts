import type { QuotaConfig } from '../../config/types.js';
import type { BookedSpend } from '../../contracts/accounting.js';
import { Counters } from '../../accounting/delta.js';
import { periodKey } from '../../accounting/period.js';
import { spentBudget, type SpendState } from '../../accounting/spend.js';

/**
 * A client key's own gateway budgets (`keys[].quota`: tokens, requests, cost) for the current period, counted in
 * this gateway service's memory: the same checks and worst-case reservations as its user's budgets (see
 * `accounting/spend.ts`), without the ledger (a restart starts the key's period count again; docs/gateway.md).
 */
export class KeyBudget implements SpendState {
  quota: QuotaConfig;
  period: string;
  readonly spent = new Counters();
  reservedInput = 0;
  reservedOutput = 0;
  reservedRequests = 0;
  reservedCost = 0;

  constructor(quota: QuotaConfig, now: number) {
    this.quota = quota;
    this.period = periodKey(quota, now);
  }

  /** The budget used up in the period of `now` (reservations counted), else null. */
  used(now: number): string | null {
    const period = periodKey(this.quota, now);
    if (period !== this.period) {
      this.period = period;
      this.spent.clear();
    }
    return spentBudget(this, this.quota);
  }

  reserve(input: number, output: number, cost: number): void {
    this.reservedInput += input;
    this.reservedOutput += output;
    this.reservedRequests++;
    this.reservedCost += cost;
  }

  /** A reservation ends with the request's booked figures (null: it was refused, nothing was booked). */
  settle(input: number, output: number, cost: number, row: BookedSpend | null): void {
    this.reservedInput -= input;
    this.reservedOutput -= output;
    this.reservedRequests--;
    this.reservedCost -= cost;
    if (row === null) return;
    this.spent.add(0, 0, 0, 1, row.totalTokens ?? 0);
    this.spent.addTokens(row.inputTokens ?? 0, row.cacheReadTokens ?? 0, row.cacheWriteTokens ?? 0,
      row.outputTokens ?? 0, row.reasoningTokens ?? 0, row.costMicros ?? 0);
  }
}

export type { BookedSpend };
