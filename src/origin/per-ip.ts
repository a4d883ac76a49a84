import type { RateLimit } from '../contracts/rate.js';

/** Why a client address was turned away (a connection, or a gateway request for `per_ip_rate`). */
export type PerIpRefusal = 'per_ip_connections' | 'per_ip_connect_rate' | 'per_ip_rate';

/** `perIp:` of a service; 0 means no limit. */
export interface PerIpLimitsConfig {
  readonly maxConnections: number;
  /** New connections per second from one address (burst of the same size). */
  readonly connectRate: number;
  /**
   * forward / proxy: bytes per second each way, one bucket shared by the address's relays; gateway: requests per
   * second (burst of the same size).
   */
  readonly rate: number;
}

/** Makes the engine bucket an address's relays share (forward / proxy); absent where `rate` counts requests. */
export type AddressRateFactory = (bytesPerSec: number) => RateLimit;

/** One client address: its live connections, its connect-rate bucket, and its `rate` bucket. */
export class AddressEntry {
  readonly ip: string;
  live = 0;
  tokens: number;
  refilledAt: number;
  /** forward / proxy: the byte-rate bucket of the address's relays while it has live connections. */
  limit: RateLimit | null = null;
  /** gateway: request tokens left, and when they were last refilled. */
  requestTokens: number;
  requestsAt: number;

  constructor(ip: string, tokens: number, requestTokens: number, now: number) {
    this.ip = ip;
    this.tokens = tokens;
    this.refilledAt = now;
    this.requestTokens = requestTokens;
    this.requestsAt = now;
  }
}

/**
 * Per client address admission: live connections, new connections per second, and the address's `rate`. Entries
 * exist only while an address has live connections or a bucket still refilling, so the map stays as large as the
 * live client set.
 */
export class PerIpLimits {
  private config: PerIpLimitsConfig;
  private readonly rateFactory: AddressRateFactory | null;
  private readonly entries = new Map<string, AddressEntry>();
  private sweepAt = 0;
  /** Gateway requests refused by `rate`. */
  rateRefused = 0;

  constructor(config: PerIpLimitsConfig, rateFactory: AddressRateFactory | null = null) {
    this.config = config;
    this.rateFactory = rateFactory;
  }

  /** A reload: new limits apply to new connections; live addresses' byte buckets are retuned in place. */
  update(config: PerIpLimitsConfig): void {
    this.config = config;
    for (const entry of this.entries.values()) {
      const limit = entry.limit;
      if (limit === null) continue;
      if (config.rate > 0) limit.set(config.rate, config.rate);
      else this.dropLimit(entry);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** Admits a connection from `ip` (counted live until `release`), or says why not. */
  admit(ip: string, now: number): AddressEntry | PerIpRefusal {
    const { maxConnections, connectRate, rate } = this.config;
    let entry = this.entries.get(ip);
    if (entry === undefined) {
      entry = new AddressEntry(ip, burstOf(connectRate), burstOf(rate), now);
      this.entries.set(ip, entry);
    }
    if (maxConnections > 0 && entry.live >= maxConnections) return 'per_ip_connections';
    if (connectRate > 0) {
      entry.tokens = Math.min(burstOf(connectRate), entry.tokens + ((now - entry.refilledAt) / 1000) * connectRate);
      entry.refilledAt = now;
      if (entry.tokens < 1) return 'per_ip_connect_rate';
      entry.tokens -= 1;
    }
    entry.live++;
    if (rate > 0 && entry.limit === null && this.rateFactory !== null) entry.limit = this.rateFactory(rate);
    if (now >= this.sweepAt) this.sweep(now);
    return entry;
  }

  /** The byte bucket `ip`'s relays share, or null (no `rate`, or the address has no live connection). */
  rateLimitOf(ip: string): RateLimit | null {
    return this.entries.get(ip)?.limit ?? null;
  }

  /** A gateway request from `entry`'s address: true when `rate` lets it through (a token is taken). */
  takeRequest(entry: AddressEntry, now: number): boolean {
    const rate = this.config.rate;
    if (rate <= 0) return true;
    entry.requestTokens = Math.min(burstOf(rate), entry.requestTokens + ((now - entry.requestsAt) / 1000) * rate);
    entry.requestsAt = now;
    if (entry.requestTokens < 1) {
      this.rateRefused++;
      return false;
    }
    entry.requestTokens -= 1;
    return true;
  }

  release(ip: string): void {
    const entry = this.entries.get(ip);
    if (entry === undefined) return;
    entry.live--;
    if (entry.live > 0) return;
    if (entry.limit !== null) this.dropLimit(entry);
    if (this.config.connectRate === 0 && this.config.rate === 0) this.entries.delete(ip);
  }

  /** The service stops or drops `perIp`: buckets are released (relays still holding one keep it until they end). */
  dispose(): void {
    for (const entry of this.entries.values()) if (entry.limit !== null) this.dropLimit(entry);
  }

  private dropLimit(entry: AddressEntry): void {
    entry.limit!.dispose();
    entry.limit = null;
  }

  /** Drops idle addresses whose buckets are full again; at most once a second. */
  private sweep(now: number): void {
    this.sweepAt = now + 1000;
    const { connectRate, rate } = this.config;
    for (const [ip, entry] of this.entries) {
      if (entry.live > 0) continue;
      const connects = entry.tokens + ((now - entry.refilledAt) / 1000) * connectRate;
      const requests = entry.requestTokens + ((now - entry.requestsAt) / 1000) * rate;
      if (connects >= burstOf(connectRate) && requests >= burstOf(rate)) this.entries.delete(ip);
    }
  }
}

/** A bucket holds a second's worth, and at least one (a rate below one a second still admits one at a time). */
function burstOf(rate: number): number {
  return rate > 0 && rate < 1 ? 1 : rate;
}
