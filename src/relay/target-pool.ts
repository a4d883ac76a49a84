import type { ForwardTarget, TargetHealthConfig, TargetStrategy } from '../config/schema.js';
import type { HostPort } from '../util/address.js';
import type { Target } from './target.js';
import type { TargetRegistry } from './target-registry.js';

export type { Target } from './target.js';

/**
 * The targets of one forward service's config and the order to try them in: the strategy's pick first, then the
 * rest; down targets after up ones, backups after the others (tried first only when every other one is down). The
 * targets themselves (live counts, health) come from the registry, so a reload that lists an address again, whenever
 * it was listed before, gets the same object the live relays count on.
 *
 * Weights: round-robin is smooth weighted round-robin (nginx's: every pick adds each up target's weight to its score,
 * takes the highest and subtracts the total from it, so a 3:1 pair goes a a b a, never a a a b); random and
 * least-connections scale by weight; source-hash is weighted rendezvous hashing of the client address, so a client
 * keeps its target across reloads and while other targets go down and back, and only a down target's clients move.
 */
export class TargetPool {
  readonly targets: readonly Target[];
  readonly weights: readonly number[];
  readonly backups: readonly boolean[];
  private readonly strategy: TargetStrategy;
  private readonly registry: TargetRegistry;
  /** Smooth weighted round-robin scores, by index in `targets`. */
  private readonly scores: number[];
  /** Per target: the hash seed of its label (source-hash). */
  private readonly seeds: readonly number[];
  private closed = false;

  constructor(
    service: string,
    targets: readonly (HostPort | ForwardTarget)[],
    strategy: TargetStrategy,
    backoffMs: number,
    connectTimeoutMs: number,
    registry: TargetRegistry,
    health: TargetHealthConfig | null = null,
  ) {
    this.targets = targets.map((a) => registry.acquire(service, a, backoffMs, connectTimeoutMs, health));
    this.weights = targets.map((t) => ('weight' in t ? t.weight : 1));
    this.backups = targets.map((t) => 'backup' in t && t.backup);
    this.strategy = strategy;
    this.registry = registry;
    this.scores = targets.map(() => 0);
    this.seeds = this.targets.map((t) => fnv1a(t.label, FNV_OFFSET));
  }

  /** Every target once, in the order the strategy wants them tried. `clientIp` matters to source-hash only. */
  order(clientIp = ''): Target[] {
    const list = this.targets;
    const n = list.length;
    let ordered: Target[];
    switch (this.strategy) {
      case 'failover':
        ordered = list.slice();
        break;
      case 'least-connections':
        ordered = this.byKey(this.connectionKeys());
        break;
      case 'random':
        ordered = this.byKey(this.randomKeys());
        break;
      case 'source-hash':
        ordered = this.byKey(this.hashKeys(clientIp));
        break;
      default:
        ordered = n === 1 ? list.slice() : this.smoothRoundRobin();
    }
    if (this.needsRanking(ordered)) {
      const now = Date.now();
      const keys = new Map<Target, number>();
      for (let i = 0; i < n; i++) keys.set(list[i]!, rank(list[i]!, this.backups[i]!, now));
      ordered.sort(function byRank(a, b) {
        return keys.get(a)! - keys.get(b)!;
      });
    }
    return ordered;
  }

  /** Live relays per unit of weight. */
  private connectionKeys(): number[] {
    const keys = new Array<number>(this.targets.length);
    for (let i = 0; i < keys.length; i++) keys[i] = this.targets[i]!.live / this.weights[i]!;
    return keys;
  }

  /** Efraimidis-Spirakis: ascending -u^(1/w) draws the first by weight, the next among the rest, and so on. */
  private randomKeys(): number[] {
    const keys = new Array<number>(this.targets.length);
    for (let i = 0; i < keys.length; i++) keys[i] = -(Math.random() ** (1 / this.weights[i]!));
    return keys;
  }

  /** Weighted rendezvous: the highest w / -ln(u) wins, u uniform from the client's and the target's hash. */
  private hashKeys(clientIp: string): number[] {
    const h = fnv1a(clientIp, FNV_OFFSET);
    const keys = new Array<number>(this.targets.length);
    for (let i = 0; i < keys.length; i++) {
      const u = (mix(h ^ this.seeds[i]!) + 0.5) / 4_294_967_296;
      keys[i] = -Math.log(u) / this.weights[i]!;
    }
    return keys;
  }

  /** The targets by `keys` ascending (Array.sort is stable: ties keep config order). */
  private byKey(keys: readonly number[]): Target[] {
    const order = new Array<number>(keys.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    order.sort(function byKeyAscending(a, b) {
      return keys[a]! - keys[b]!;
    });
    const out = new Array<Target>(order.length);
    for (let i = 0; i < order.length; i++) out[i] = this.targets[order[i]!]!;
    return out;
  }

  private smoothRoundRobin(): Target[] {
    const list = this.targets;
    const scores = this.scores;
    const weights = this.weights;
    const backups = this.backups;
    // Among up primaries; with none, among up backups; with none either, plain config order (ranked below).
    let primaryUp = false;
    for (let i = 0; i < list.length; i++) if (list[i]!.up && !backups[i]) primaryUp = true;
    let total = 0;
    let best = -1;
    for (let i = 0; i < list.length; i++) {
      if (!list[i]!.up || backups[i] === primaryUp) continue;
      scores[i]! += weights[i]!;
      total += weights[i]!;
      if (best < 0 || scores[i]! > scores[best]!) best = i;
    }
    if (best < 0) return list.slice();
    scores[best]! -= total;
    return best === 0 ? list.slice() : list.slice(best).concat(list.slice(0, best));
  }

  private needsRanking(ordered: readonly Target[]): boolean {
    if (this.backups.includes(true)) return true;
    for (const t of ordered) if (!t.up) return true;
    return false;
  }

  markUp(target: Target): void {
    target.markUp();
  }

  markDown(target: Target, err?: Error): void {
    target.markDown(err);
  }

  /** The pool no longer lists its targets (replaced by a reload, or its service stopped). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.targets) this.registry.release(t);
  }
}

function rank(t: Target, backup: boolean, now: number): number {
  // Up primaries, then up backups; down targets whose back-off has expired next; the rest last.
  if (t.up) return backup ? 1 : 0;
  return t.downUntil <= now ? 2 : 3;
}

const FNV_OFFSET = 0x811c9dc5;

function fnv1a(text: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A 32-bit finaliser (murmur3's fmix32): spreads the xor of two FNV hashes over all bits. */
function mix(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
