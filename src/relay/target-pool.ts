import { connect } from 'node:net';
import type { TargetStrategy } from '../config/schema.js';
import type { DialAddress } from './engine.js';
import { formatHostPort, type HostPort } from '../util/address.js';

const MAX_BACKOFF_FACTOR = 30;

/** One upstream of a forward service, with its live count and health. */
export class Target {
  readonly address: HostPort;
  readonly label: string;
  live = 0;
  failures = 0;
  /** `Date.now()` until which the target is skipped while others are up. */
  downUntil = 0;
  probeTimer: NodeJS.Timeout | null = null;
  /** The relay engine's form of the address, when the engine dials targets itself (see ForwardService). */
  dialAddress: DialAddress | null = null;

  constructor(address: HostPort) {
    this.address = address;
    this.label = formatHostPort(address);
  }

  get up(): boolean {
    return this.failures === 0;
  }
}

/**
 * The targets of one forward service and the order to try them in. A target that fails is marked down with an
 * exponential back-off and probed in the background; while down it is tried only after every up target.
 * A dead target never restarts anything: it is simply skipped until a probe succeeds.
 */
export class TargetPool {
  readonly targets: readonly Target[];
  private readonly strategy: TargetStrategy;
  private readonly backoffMs: number;
  private readonly connectTimeoutMs: number;
  private cursor = 0;
  private closed = false;

  constructor(addresses: readonly HostPort[], strategy: TargetStrategy, backoffMs: number, connectTimeoutMs: number, previous?: TargetPool) {
    const old = new Map(previous?.targets.map((t) => [t.label, t]));
    this.targets = addresses.map((a) => {
      const kept = old.get(formatHostPort(a));
      return kept ?? new Target(a);
    });
    this.strategy = strategy;
    this.backoffMs = backoffMs;
    this.connectTimeoutMs = connectTimeoutMs;
    if (previous) {
      previous.closed = true;
      const keep = new Set(this.targets);
      for (const t of previous.targets) if (!keep.has(t)) stopProbe(t);
    }
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
    target.failures = 0;
    target.downUntil = 0;
    stopProbe(target);
  }

  markDown(target: Target): void {
    target.failures++;
    const factor = Math.min(2 ** (target.failures - 1), MAX_BACKOFF_FACTOR);
    const wait = this.backoffMs * factor;
    target.downUntil = Date.now() + wait;
    if (target.probeTimer === null && !this.closed) this.scheduleProbe(target, wait);
  }

  close(): void {
    this.closed = true;
    for (const t of this.targets) stopProbe(t);
  }

  private scheduleProbe(target: Target, waitMs: number): void {
    const pool = this;
    target.probeTimer = setTimeout(function probeTarget() {
      target.probeTimer = null;
      if (pool.closed || target.up) return;
      const socket = connect({ host: target.address.host, port: target.address.port, timeout: pool.connectTimeoutMs });
      socket.once('connect', function probeSucceeded() {
        socket.destroy();
        pool.markUp(target);
      });
      socket.once('timeout', function probeTimedOut() {
        socket.destroy(new Error('probe timeout'));
      });
      socket.once('error', function probeFailed() {
        if (!pool.closed) pool.markDown(target);
      });
    }, waitMs);
    target.probeTimer.unref();
  }
}

function rank(t: Target, now: number): number {
  // Up targets first; down targets whose back-off has expired next; the rest last.
  return t.up ? 0 : t.downUntil <= now ? 1 : 2;
}

function rotate<T>(list: readonly T[], start: number): T[] {
  return start === 0 ? list.slice() : list.slice(start).concat(list.slice(0, start));
}

function stopProbe(t: Target): void {
  if (t.probeTimer !== null) {
    clearTimeout(t.probeTimer);
    t.probeTimer = null;
  }
}
