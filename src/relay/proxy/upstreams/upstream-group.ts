import type { UpstreamGroupStrategy } from '../../../config/types.js';
import type { UpstreamProxy, UpstreamRoute } from './upstream-proxy.js';

/**
 * A named group of upstream proxies. `failover`: members in their listed order; `round-robin`: each connection
 * starts one member further. Either way members that are up come first and down ones last (still tried: a group
 * whose members are all down keeps trying rather than refusing).
 */
export class UpstreamGroup implements UpstreamRoute {
  readonly name: string;
  readonly members: readonly UpstreamProxy[];
  readonly strategy: UpstreamGroupStrategy;
  private next = 0;

  constructor(name: string, members: readonly UpstreamProxy[], strategy: UpstreamGroupStrategy) {
    this.name = name;
    this.members = members;
    this.strategy = strategy;
  }

  get up(): boolean {
    for (const m of this.members) if (m.health.up) return true;
    return false;
  }

  order(): readonly UpstreamProxy[] {
    const members = this.members;
    const n = members.length;
    let start = 0;
    if (this.strategy === 'round-robin') {
      start = this.next;
      this.next = (start + 1) % n;
    }
    let allUp = true;
    for (const m of members) if (!m.health.up) allUp = false;
    if (allUp && start === 0) return members;
    const out: UpstreamProxy[] = [];
    for (let i = 0; i < n; i++) {
      const m = members[(start + i) % n]!;
      if (m.health.up) out.push(m);
    }
    if (!allUp) {
      for (let i = 0; i < n; i++) {
        const m = members[(start + i) % n]!;
        if (!m.health.up) out.push(m);
      }
    }
    return out;
  }
}
