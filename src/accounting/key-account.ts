import type { Config, QuotaConfig } from '../config/types.js';
import type { BookedSpend, KeySpend, KeySpendStatus } from '../contracts/accounting.js';
import { Counters } from './delta.js';
import { periodKey } from './period.js';
import { budgetStatus, hasSpendBudget, spentBudget, type SpendState } from './spend.js';
import { Subject } from './subject.js';

/** The id of a client key's budgets and shared windows in one gateway service: `<service>:k:<user>/<name>`. */
export function keyId(service: string, user: string, name: string): string {
  return `${service}:k:${user}/${name}`;
}

/** Every key budget `config` sets, by id: one per gateway service and key with a budget. */
export function configuredKeyBudgets(config: Config): Map<string, QuotaConfig> {
  const out = new Map<string, QuotaConfig>();
  for (const service of config.services) {
    if (service.type !== 'gateway') continue;
    for (const user of config.users) {
      for (const k of user.keyConfigs) {
        if (hasSpendBudget(k.quota)) out.set(keyId(service.name, user.id, k.name), k.quota);
      }
    }
  }
  return out;
}

/** Told when a key account booked spend that the ledger (and Redis) should get. */
export interface KeyBook {
  keySpent(account: KeyAccount): void;
}

/**
 * A client key's own gateway budgets (`keys[].quota`: tokens, requests, cost) in one gateway service: the same checks
 * and worst-case reservations as its user's budgets (see `spend.ts`), and, like a user, a ledger subject (kind `key`,
 * id `<service>:k:<user>/<name>`) whose period row is read at start, so a restart or a crash (up to the last flush)
 * does not start the key's period count again. With `store.redis` its deltas and other instances' go through Redis.
 */
export class KeyAccount extends Subject implements SpendState, KeySpend {
  quota: QuotaConfig;
  /** The period `spent` belongs to. */
  usedPeriod: string;
  /** Requests, tokens and cost booked in `usedPeriod` (the ledger's, this process's, other instances' via Redis). */
  readonly spent = new Counters();
  reservedInput = 0;
  reservedOutput = 0;
  reservedRequests = 0;
  reservedCost = 0;
  private readonly book: KeyBook;

  constructor(id: string, quota: QuotaConfig, now: number, book: KeyBook) {
    const period = periodKey(quota, now);
    super('key', id, period);
    this.quota = quota;
    this.usedPeriod = period;
    this.book = book;
  }

  /** The current period key; the period's spend starts again when it changes. */
  periodAt(now: number): string {
    const period = periodKey(this.quota, now);
    if (period !== this.usedPeriod) {
      this.usedPeriod = period;
      this.spent.clear();
    }
    return period;
  }

  /** The budget used up in the period of `now` (reservations counted), else null. */
  used(now: number): string | null {
    this.periodAt(now);
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
    const tokens = row.totalTokens ?? 0;
    const inputTokens = row.inputTokens ?? 0;
    const cacheRead = row.cacheReadTokens ?? 0;
    const cacheWrite = row.cacheWriteTokens ?? 0;
    const outputTokens = row.outputTokens ?? 0;
    const reasoning = row.reasoningTokens ?? 0;
    const costMicros = row.costMicros ?? 0;
    this.spent.add(0, 0, 0, 1, tokens);
    this.spent.addTokens(inputTokens, cacheRead, cacheWrite, outputTokens, reasoning, costMicros);
    this.record(this.usedPeriod, 0, 0, 0, 1, tokens);
    this.recordTokens(inputTokens, cacheRead, cacheWrite, outputTokens, reasoning, costMicros);
    this.book.keySpent(this);
  }

  status(now: number): KeySpendStatus {
    this.periodAt(now);
    return { period: this.usedPeriod, spent: this.spent.toJSON(), budgets: budgetStatus(this, this.quota) };
  }
}
