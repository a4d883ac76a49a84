import type { LimitsConfig, UserConfig } from '../../config/types.js';
import type { KeySpend, KeySpendStatus, ServiceAccounting } from '../../contracts/accounting.js';
import { keyId } from '../../accounting/key-account.js';
import { hasSpendBudget } from '../../accounting/spend.js';
import { RateLimiter } from './rate-limiter.js';
import { WINDOW_MS } from './window.js';

/** A user's spend policy in this gateway service: its rate limiter and whether accounting holds a budget for it. */
export class UserPolicy {
  readonly id: string;
  /** Its windows' id in Redis when limits are shared (`<service>:u:<id>`). */
  readonly sharedId: string;
  limiter: RateLimiter | null;
  budget: boolean;

  constructor(service: string, id: string, limiter: RateLimiter | null, budget: boolean) {
    this.id = id;
    this.sharedId = `${service}:u:${id}`;
    this.limiter = limiter;
    this.budget = budget;
  }
}

/** A client key written as an object: its own limiter, budget and expiry, on top of its user's. */
export class KeyPolicy {
  readonly user: string;
  readonly name: string;
  /** Its windows' id in Redis when limits are shared (`<service>:k:<user>/<name>`). */
  readonly sharedId: string;
  limiter: RateLimiter | null;
  /** Its budgets, held by accounting (kept in the ledger across restarts). */
  budget: KeySpend | null;
  expiresAt: number | null;

  constructor(service: string, user: string, name: string) {
    this.user = user;
    this.name = name;
    this.sharedId = keyId(service, user, name);
    this.limiter = null;
    this.budget = null;
    this.expiresAt = null;
  }
}

/**
 * The spend policies of a gateway's users and keys. Only users and keys with limits or a budget (keys: or an expiry)
 * have one, so a request of anyone else costs one map lookup and no more (`Admission.admit`). Limiters and key
 * budgets are kept across reloads while their owner keeps them.
 */
export class SpendPolicies {
  private readonly service: string;
  private readonly accounting: ServiceAccounting;
  private users = new Map<string, UserPolicy>();
  /** Client key → policy; null when no key has one (the common case: no lookup at all). */
  private keys: Map<string, KeyPolicy> | null = null;

  constructor(service: string, accounting: ServiceAccounting) {
    this.service = service;
    this.accounting = accounting;
  }

  apply(users: ReadonlyMap<string, UserConfig>): void {
    const nextUsers = new Map<string, UserPolicy>();
    const nextKeys = new Map<string, KeyPolicy>();
    for (const u of users.values()) {
      const budget = hasSpendBudget(u.quota);
      if (u.limits !== null || budget) {
        const old = this.users.get(u.id);
        const limiter = keepLimiter(old?.limiter ?? null, u.limits);
        if (old !== undefined) {
          old.limiter = limiter;
          old.budget = budget;
          nextUsers.set(u.id, old);
        } else nextUsers.set(u.id, new UserPolicy(this.service, u.id, limiter, budget));
      }
      for (const k of u.keyConfigs) {
        if (k.limits === null && !hasSpendBudget(k.quota) && k.expiresAt === null) continue;
        const old = this.keys?.get(k.key);
        const p = old !== undefined && old.user === u.id && old.name === k.name ? old
          : new KeyPolicy(this.service, u.id, k.name);
        p.limiter = keepLimiter(p.limiter, k.limits);
        p.budget = hasSpendBudget(k.quota) ? this.accounting.keySpend(p.sharedId, k.quota) : null;
        p.expiresAt = k.expiresAt;
        nextKeys.set(k.key, p);
      }
    }
    this.users = nextUsers;
    this.keys = nextKeys.size === 0 ? null : nextKeys;
  }

  user(id: string): UserPolicy | null {
    return this.users.get(id) ?? null;
  }

  key(key: string): KeyPolicy | null {
    const keys = this.keys;
    return keys === null ? null : (keys.get(key) ?? null);
  }

  /**
   * `GET /users/:id/usage`: the user's and its keys' limit windows in this service (as this process sees them; with
   * shared limits, as of the last admission), and each key's budget; null when neither has any.
   */
  status(user: string, now: number): LimitsStatus | null {
    const u = this.users.get(user);
    const keys: Record<string, KeyStatus> = {};
    let any = u !== undefined && u.limiter !== null;
    if (this.keys !== null) {
      for (const p of this.keys.values()) {
        if (p.user !== user) continue;
        any = true;
        const b = p.budget;
        keys[p.name] = {
          limits: p.limiter === null ? null : windowStatus(p.limiter, now),
          budget: b === null ? null : b.status(now),
          expiresAt: p.expiresAt === null ? null : new Date(p.expiresAt).toISOString(),
        };
      }
    }
    if (!any) return null;
    return { user: u === undefined || u.limiter === null ? null : windowStatus(u.limiter, now), keys };
  }
}

/** One limiter's sliding minute: limits, counts, what is left and when the current window ends. */
export interface WindowStatus {
  readonly rpm: number | null;
  readonly tpm: number | null;
  readonly concurrent: number | null;
  readonly requests: number;
  readonly tokens: number;
  readonly live: number;
  readonly remainingRequests: number | null;
  readonly remainingTokens: number | null;
  readonly resetMs: number;
}

export interface KeyStatus {
  readonly limits: WindowStatus | null;
  readonly budget: KeySpendStatus | null;
  readonly expiresAt: string | null;
}

export interface LimitsStatus {
  readonly user: WindowStatus | null;
  readonly keys: Record<string, KeyStatus>;
}

function windowStatus(l: RateLimiter, now: number): WindowStatus {
  const c = l.config;
  const requests = l.requests.estimate(now);
  const tokens = l.tokens.estimate(now);
  return {
    rpm: c.rpm, tpm: c.tpm, concurrent: c.concurrent,
    requests: Math.round(requests), tokens: Math.round(tokens), live: l.live,
    remainingRequests: c.rpm === null ? null : Math.max(0, Math.floor(c.rpm - requests)),
    remainingTokens: c.tpm === null ? null : Math.max(0, Math.floor(c.tpm - tokens)),
    resetMs: Math.max(0, l.requests.start + WINDOW_MS - now),
  };
}

function keepLimiter(old: RateLimiter | null, config: LimitsConfig | null): RateLimiter | null {
  if (config === null) return null;
  if (old === null) return new RateLimiter(config);
  old.config = config;
  return old;
}
