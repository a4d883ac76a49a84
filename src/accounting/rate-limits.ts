import type { RateConfig, ServiceConfig, UserConfig } from '../config/schema.js';
import type { RateLimit } from '../contracts/rate.js';
import type { RelayEngine } from '../contracts/relay-engine.js';

/**
 * One engine RateLimit per user with a `rate` (shared by all of that user's connections on every service) and one
 * per service with a `rate`. A relay takes its user's limit when the user has one, else its service's: the engine
 * gives a relay one limit, and a user's tier is what is sold. Reloads retune limits in place, so live relays follow.
 */
export class RateLimitRegistry {
  private readonly engine: RelayEngine;
  private readonly users = new Map<string, RateLimit>();
  private readonly services = new Map<string, RateLimit>();

  constructor(engine: RelayEngine) {
    this.engine = engine;
  }

  apply(users: readonly UserConfig[], services: readonly ServiceConfig[]): void {
    sync(this.engine, this.users, users.map((u) => [u.id, u.rate]));
    sync(this.engine, this.services, services.map((s) => [s.name, s.rate]));
  }

  /** The limit a new relay of `user` on `service` shares, or null for none. */
  forRelay(user: string | null, service: string): RateLimit | null {
    if (user !== null) {
      const limit = this.users.get(user);
      if (limit !== undefined) return limit;
    }
    return this.services.get(service) ?? null;
  }

  dispose(): void {
    for (const limit of this.users.values()) limit.dispose();
    for (const limit of this.services.values()) limit.dispose();
    this.users.clear();
    this.services.clear();
  }
}

function sync(engine: RelayEngine, limits: Map<string, RateLimit>, wanted: [string, RateConfig | null][]): void {
  const keep = new Set<string>();
  for (const [key, rate] of wanted) {
    if (rate === null || (rate.inBytesPerSec <= 0 && rate.outBytesPerSec <= 0)) continue;
    keep.add(key);
    const limit = limits.get(key);
    if (limit === undefined) limits.set(key, engine.createRateLimit(rate.inBytesPerSec, rate.outBytesPerSec));
    else limit.set(rate.inBytesPerSec, rate.outBytesPerSec);
  }
  for (const [key, limit] of limits) {
    if (keep.has(key)) continue;
    // Live relays may still hold it; they keep their buckets until they end.
    limit.set(0, 0);
    limit.dispose();
    limits.delete(key);
  }
}
