/** Why a client address was turned away. */
export type PerIpRefusal = 'per_ip_connections' | 'per_ip_connect_rate';

/** `perIp:` of a service; 0 means no limit. */
export interface PerIpLimitsConfig {
  readonly maxConnections: number;
  /** New connections per second from one address (burst of the same size). */
  readonly connectRate: number;
}

/** One client address: its live connections and its connect-rate bucket. */
class AddressEntry {
  live = 0;
  tokens: number;
  refilledAt: number;

  constructor(tokens: number, now: number) {
    this.tokens = tokens;
    this.refilledAt = now;
  }
}

/**
 * Per client address admission: live connections and new connections per second. Entries exist only while an
 * address has live connections or a bucket still refilling, so the map stays as large as the live client set.
 */
export class PerIpLimits {
  private config: PerIpLimitsConfig;
  private readonly entries = new Map<string, AddressEntry>();
  private sweepAt = 0;

  constructor(config: PerIpLimitsConfig) {
    this.config = config;
  }

  update(config: PerIpLimitsConfig): void {
    this.config = config;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Admits a connection from `ip` (counted live until `release`), or says why not. */
  admit(ip: string, now: number): PerIpRefusal | null {
    const { maxConnections, connectRate } = this.config;
    let entry = this.entries.get(ip);
    if (entry === undefined) {
      entry = new AddressEntry(connectRate, now);
      this.entries.set(ip, entry);
    }
    if (maxConnections > 0 && entry.live >= maxConnections) return 'per_ip_connections';
    if (connectRate > 0) {
      entry.tokens = Math.min(connectRate, entry.tokens + ((now - entry.refilledAt) / 1000) * connectRate);
      entry.refilledAt = now;
      if (entry.tokens < 1) return 'per_ip_connect_rate';
      entry.tokens -= 1;
    }
    entry.live++;
    if (now >= this.sweepAt) this.sweep(now);
    return null;
  }

  release(ip: string): void {
    const entry = this.entries.get(ip);
    if (entry === undefined) return;
    entry.live--;
    if (entry.live <= 0 && this.config.connectRate === 0) this.entries.delete(ip);
  }

  /** Drops idle addresses whose bucket is full again; at most once a second. */
  private sweep(now: number): void {
    this.sweepAt = now + 1000;
    const rate = this.config.connectRate;
    for (const [ip, entry] of this.entries) {
      if (entry.live > 0) continue;
      if (rate === 0 || entry.tokens + ((now - entry.refilledAt) / 1000) * rate >= rate) this.entries.delete(ip);
    }
  }
}
