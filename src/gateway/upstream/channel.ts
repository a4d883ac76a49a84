import type {
  ChannelConfig, ChannelHealthConfig, ChannelKind, GatewayServiceConfig,
} from '../../config/schema.js';
import { CircuitBreaker } from './breaker.js';
import { GlobSet } from '../routing/glob.js';
import { KeyRing, UpstreamCredential } from './key-ring.js';
import { ModelCatalog } from './model-catalog.js';
import { UpstreamPool } from './upstream-pool.js';
import { RateLimiter } from '../limits/rate-limiter.js';
import { HealthCheck, type Probe } from '../../health/health-check.js';

/** Makes a channel's health probe (channel-probe.ts; passed in by the core so this file needs no import of it). */
export type ChannelProbeFactory = (channel: Channel, config: ChannelHealthConfig) => Probe;

/** Weight of the newest sample in the latency EWMA. */
const EWMA_ALPHA = 0.3;

/**
 * One upstream channel at run time: its connections (undici clients), credentials, circuit breaker and the live
 * numbers the balancer reads (in-flight, latency EWMA). Survives a reload when its connection settings are unchanged.
 */
export class Channel {
  config: ChannelConfig;
  readonly name: string;
  readonly kind: ChannelKind;
  models: GlobSet;
  weight: number;
  priority: number;
  readonly origin: string;
  /** baseUrl's path without a trailing slash; the endpoint suffix is appended. */
  readonly basePath: string;
  readonly pool: UpstreamPool;
  readonly keys: KeyRing;
  readonly breaker: CircuitBreaker;
  /** Set when the channel uses a credentials directory: accounts come from the credential index. */
  readonly usesAccounts: boolean;
  inFlight = 0;
  /** The channel's own rate limits (provider tier), or null. */
  limiter: RateLimiter | null;
  /** Latency (time to first byte) EWMA in ms; 0 until the first sample. */
  latencyEwma = 0;
  latencySamples = 0;
  requests = 0;
  failures = 0;
  /** The active check (`health`), or null: only the breaker judges the channel. */
  health: HealthCheck | null = null;
  /** Credential problems reported by the credentials directory (expired or failing accounts). */
  accountProblems: readonly { readonly file: string; readonly reason: string }[] = [];
  /** The names the upstream lists (`modelsRefresh`), for `/v1/models`. */
  readonly catalog = new ModelCatalog();

  private readonly probeFactory: ChannelProbeFactory | null;

  constructor(config: ChannelConfig, service: GatewayServiceConfig, probeFactory: ChannelProbeFactory | null = null) {
    this.config = config;
    this.probeFactory = probeFactory;
    this.limiter = config.limits === null ? null : new RateLimiter(config.limits);
    this.name = config.name;
    this.kind = config.kind;
    this.models = new GlobSet(config.models);
    this.weight = config.weight;
    this.priority = config.priority;
    this.origin = config.baseUrl.origin;
    this.basePath = config.baseUrl.pathname.replace(/\/+$/, '');
    this.pool = new UpstreamPool(this.origin, {
      connections: config.maxConnections,
      keepAliveTimeoutMs: 30_000,
      connectTimeoutMs: Math.min(service.firstByteTimeoutMs, 10_000),
    });
    this.keys = new KeyRing(config.keys.map((k, i) => new UpstreamCredential(`key#${i}`, k, false, Infinity)));
    this.breaker = new CircuitBreaker(service.breaker);
    this.usesAccounts = config.credentialsDir !== null && config.keys.length === 0;
    this.configureHealth(null, config);
  }

  /** Starts, retunes or stops the active check for `next` (its state carries over while the probe is the same). */
  private configureHealth(previous: ChannelConfig | null, next: ChannelConfig): void {
    const h = next.health;
    const old = previous?.health ?? null;
    if (h !== null && old !== null && this.health !== null && h.method === old.method && h.path === old.path
      && h.body === old.body) {
      this.health.configure(h);
      return;
    }
    this.health?.stop();
    this.health = null;
    if (h === null || this.probeFactory === null) return;
    const address = this.origin + (h.path ?? this.basePath);
    this.health = new HealthCheck('channel', this.name, address, h, this.probeFactory(this, h));
    this.health.start();
  }

  /** Whether a reload can keep this channel (and its connections, breaker and numbers) for `next`. */
  canKeep(next: ChannelConfig): boolean {
    return next.kind === this.kind && next.baseUrl.href === this.config.baseUrl.href
      && next.maxConnections === this.config.maxConnections
      && next.credentialsDir === this.config.credentialsDir;
  }

  /** Applies the settings that do not touch connections. */
  reconfigure(next: ChannelConfig, service: GatewayServiceConfig): void {
    const previous = this.config;
    this.config = next;
    this.configureHealth(previous, next);
    if (next.limits === null) this.limiter = null;
    else if (this.limiter === null) this.limiter = new RateLimiter(next.limits);
    else this.limiter.config = next.limits;
    this.models = new GlobSet(next.models);
    this.weight = next.weight;
    this.priority = next.priority;
    this.breaker.reconfigure(service.breaker);
    if (!this.usesAccounts) {
      this.keys.replace(next.keys.map((k, i) => new UpstreamCredential(`key#${i}`, k, false, Infinity)));
    }
  }

  /** Breaker closed, up by its health check, a usable key, room under its own `limits` (else the balancer skips it). */
  available(now: number): boolean {
    const limiter = this.limiter;
    const health = this.health;
    return (health === null || health.up) && this.breaker.allows(now) && this.keys.hasUsable(now)
      && (limiter === null || limiter.check(now) === null);
  }

  /** Real traffic failed in a way that says the channel is unwell (no answer, 5xx): counted like a failed check. */
  trafficFailed(reason: string): void {
    this.health?.observe(false, new Error(reason));
  }

  /** An attempt starts here. */
  dispatched(now: number): void {
    this.inFlight++;
    this.requests++;
    if (this.limiter !== null) this.limiter.take(now, 0);
  }

  /** An attempt stopped, however it stopped. */
  settled(): void {
    this.inFlight--;
    if (this.limiter !== null) this.limiter.settle(Date.now(), 0, 0);
  }

  recordLatency(ms: number): void {
    this.latencyEwma = this.latencySamples === 0 ? ms : this.latencyEwma + EWMA_ALPHA * (ms - this.latencyEwma);
    this.latencySamples++;
  }

  snapshot(now: number): Record<string, unknown> {
    return {
      name: this.name,
      kind: this.kind,
      baseUrl: this.config.baseUrl.href,
      weight: this.weight,
      priority: this.priority,
      models: this.config.models,
      inFlight: this.inFlight,
      latencyEwmaMs: Math.round(this.latencyEwma * 100) / 100,
      requests: this.requests,
      failures: this.failures,
      breaker: this.breaker.snapshot(now),
      health: this.health?.snapshot() ?? null,
      credentials: this.keys.snapshot(now),
      accountProblems: this.accountProblems,
      fetchedModels: this.config.modelsRefreshMs > 0 ? this.catalog.snapshot() : null,
    };
  }

  close(): Promise<void> {
    this.health?.stop();
    return this.pool.close();
  }

  destroy(): Promise<void> {
    this.health?.stop();
    return this.pool.destroy();
  }
}
