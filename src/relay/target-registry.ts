import type { TargetHealthConfig } from '../config/schema.js';
import { formatHostPort, type HostPort } from '../util/address.js';
import { Target } from './target.js';

/**
 * Every forward target by service and address, shared by all the pools a service has over its reloads (and by a
 * replacement service of the same name): live counts and health stay exact through any sequence of reloads. A target
 * is forgotten only once no open pool lists it and no relay holds it.
 */
export class TargetRegistry {
  /** Keyed by `<label> <service>`: a label has no space, so the key is unambiguous. */
  private readonly targets = new Map<string, Target>();

  /** The target of `service` at `address` (the known one, if any), now listed by one more pool. */
  acquire(
    service: string, address: HostPort, backoffMs: number, connectTimeoutMs: number,
    health: TargetHealthConfig | null = null,
  ): Target {
    const label = formatHostPort(address);
    const key = `${label} ${service}`;
    let target = this.targets.get(key);
    if (target === undefined) {
      target = new Target(address, label);
      this.targets.set(key, target);
    }
    target.pools++;
    target.backoffMs = backoffMs;
    target.connectTimeoutMs = connectTimeoutMs;
    target.configureHealth(health);
    if (target.pools === 1) target.resumeProbe();
    this.sweep();
    return target;
  }

  /** One pool less lists `target`; targets no pool lists and no relay holds are forgotten. */
  release(target: Target): void {
    if (--target.pools === 0) target.idle();
    this.sweep();
  }

  /** Targets known (listed by a pool or held by a relay). */
  get size(): number {
    return this.targets.size;
  }

  // Runs on pool changes only (starts, reloads, stops), never per connection; a target whose last relay ends after
  // its last pool closed goes at the next one.
  private sweep(): void {
    for (const [key, target] of this.targets) if (target.pools === 0 && target.live === 0) this.targets.delete(key);
  }
}
