import type { LimitsConfig, UserConfig } from '../../config/types.js';
import { RateLimiter } from './rate-limiter.js';

/** The rate limiters of a gateway's users (`users[].limits`), kept across reloads while a user keeps its limits. */
export class UserLimits {
  private limiters = new Map<string, RateLimiter>();

  apply(users: ReadonlyMap<string, UserConfig>): void {
    const next = new Map<string, RateLimiter>();
    for (const u of users.values()) {
      const config: LimitsConfig | null = u.limits;
      if (config === null) continue;
      const existing = this.limiters.get(u.id);
      if (existing !== undefined) {
        existing.config = config;
        next.set(u.id, existing);
      } else next.set(u.id, new RateLimiter(config));
    }
    this.limiters = next;
  }

  get(user: string): RateLimiter | null {
    return this.limiters.get(user) ?? null;
  }

  /** Limit windows for `GET /status` (the service's detail). */
  status(now: number): Record<string, { requests: number; tokens: number; live: number }> {
    const out: Record<string, { requests: number; tokens: number; live: number }> = {};
    for (const [id, l] of this.limiters) {
      out[id] = { requests: Math.round(l.requests.estimate(now)), tokens: Math.round(l.tokens.estimate(now)),
        live: l.live };
    }
    return out;
  }
}
