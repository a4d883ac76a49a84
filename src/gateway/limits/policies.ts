import type { LimitsConfig, UserConfig } from '../../config/types.js';
import { hasSpendBudget } from '../../accounting/spend.js';
import { KeyBudget } from './key-budget.js';
import { RateLimiter } from './rate-limiter.js';

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
  budget: KeyBudget | null;
  expiresAt: number | null;

  constructor(service: string, user: string, name: string) {
    this.user = user;
    this.name = name;
    this.sharedId = `${service}:k:${user}/${name}`;
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
  private users = new Map<string, UserPolicy>();
  /** Client key → policy; null when no key has one (the common case: no lookup at all). */
  private keys: Map<string, KeyPolicy> | null = null;

  constructor(service: string) {
    this.service = service;
  }

  apply(users: ReadonlyMap<string, UserConfig>, now: number): void {
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
        if (!hasSpendBudget(k.quota)) p.budget = null;
        else if (p.budget === null) p.budget = new KeyBudget(k.quota, now);
        else p.budget.quota = k.quota;
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

  /** The key policies of `user`, for `GET /users/:id/usage`. */
  keysOf(user: string): KeyPolicy[] {
    const out: KeyPolicy[] = [];
    if (this.keys !== null) for (const p of this.keys.values()) if (p.user === user) out.push(p);
    return out;
  }
}

function keepLimiter(old: RateLimiter | null, config: LimitsConfig | null): RateLimiter | null {
  if (config === null) return null;
  if (old === null) return new RateLimiter(config);
  old.config = config;
  return old;
}
