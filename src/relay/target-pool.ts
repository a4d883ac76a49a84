import type { TargetStrategy } from '../config/schema.js';
import type { HostPort } from '../util/address.js';
import type { Target } from './target.js';
import type { TargetRegistry } from './target-registry.js';

export type { Target } from './target.js';

/**
 * The targets of one forward service's config and the order to try them in, down targets last. The targets
 * themselves (live counts, health) come from the registry, so a reload that lists an address again, whenever it was
 * listed before, gets the same object the live relays count on.
 */
export class TargetPool {
  readonly targets: readonly Target[];
  private readonly strategy: TargetStrategy;
  private readonly registry: TargetRegistry;
  private cursor = 0;
  private closed = false;

  constructor(
    service: string,
    addresses: readonly HostPort[],
    strategy: TargetStrategy,
    backoffMs: number,
    connectTimeoutMs: number,
    registry: TargetRegistry,
  ) {
    this.targets = addresses.map((a) => registry.acquire(service, a, backoffMs, connectTimeoutMs));
    this.strategy = strategy;
    this.registry = registry;
  }

  /** Every target once, in the order the strategy wants them tried, down targets last. */
  order(): Target[] {
    const list = this.targets;
    const n = list.length;
    let ordered: Target[];
    switch (this.strategy) {
      case 'failover':
        ordered = list.slice();
        break;
      case 'least-connections':
        ordered = list.slice().sort((a, b) => a.live - b.live);
        break;
      case 'random': {
        const start = Math.floor(Math.random() * n);
        ordered = rotate(list, start);
        break;
      }
      default: {
        ordered = rotate(list, this.cursor % n);
        this.cursor = (this.cursor + 1) % n;
      }
    }
    if (ordered.some((t) => !t.up)) {
      const now = Date.now();
      ordered.sort((a, b) => rank(a, now) - rank(b, now));
    }
    return ordered;
  }

  markUp(target: Target): void {
    target.markUp();
  }

  markDown(target: Target): void {
    target.markDown();
  }

  /** The pool no longer lists its targets (replaced by a reload, or its service stopped). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.targets) this.registry.release(t);
  }
}

function rank(t: Target, now: number): number {
  // Up targets first; down targets whose back-off has expired next; the rest last.
  return t.up ? 0 : t.downUntil <= now ? 1 : 2;
}

function rotate<T>(list: readonly T[], start: number): T[] {
  return start === 0 ? list.slice() : list.slice(start).concat(list.slice(0, start));
}
