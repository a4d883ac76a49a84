import type { HostPort } from '../util/address.js';

/**
 * The validated, normalized, frozen config. Every duration is in milliseconds, every size in bytes, every rate in
 * bytes per second. Defaults come from `defaults.ts`; the section readers (`sections/`) merge them, nowhere else.
 */
export interface Config {
  readonly admin: AdminConfig;
  readonly log: { readonly level: LogLevel };
  readonly store: StoreConfig;
  readonly pool: PoolConfig;
  readonly geo: GeoConfig;
  readonly reload: { readonly watch: boolean };
  /** Process-wide limits shared by every gateway service. */
  readonly gateway: GatewayLimitsConfig;
  /** How long removed services and a shutting-down process let live connections finish. */
  readonly shutdownGraceMs: number;
  readonly users: readonly UserConfig[];
  readonly services: readonly ServiceConfig[];
  /** Pushed traffic reports; null when off. */
  readonly report: ReportConfig | null;
}

export interface ReportConfig {
  readonly url: URL;
  readonly intervalMs: number;
  readonly format: 'tidegate' | 'gost';
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token: string | null;
  /** Retries of an unacknowledged batch back off up to this. */
  readonly maxRetryDelayMs: number;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface AdminConfig {
  /** null when the admin API is disabled (`admin: { listen: off }`). */
  readonly listen: HostPort | null;
  readonly token: string | null;
  /** A non-loopback admin listener without a token is intended. */
  readonly allowNoToken: boolean;
  /** More tokens, each with a role; `token` is one more with the role `write`. */
  readonly tokens: readonly AdminTokenConfig[];
  /** Where `listen: "<host>:auto"` of an API-made service takes its port (inclusive). */
  readonly portRange: { readonly from: number; readonly to: number };
}

export type AdminRole = 'read' | 'write';

export interface AdminTokenConfig {
  readonly token: string;
  readonly role: AdminRole;
}

export interface StoreConfig {
  /** SQLite file, or null for none (counters stay in memory). */
  readonly sqlite: string | null;
  readonly redis: string | null;
  readonly sync: { readonly intervalMs: number; readonly batchSize: number; readonly maxPending: number };
}

export interface PoolConfig {
  readonly threads: number;
  /** Bodies at or above this size are parsed in the pool; 'auto' is the pool's documented 64 KiB. */
  readonly jsonOffloadBytes: number | 'auto';
  readonly maxQueue: number;
  readonly idleTimeoutMs: number;
}

export interface GatewayLimitsConfig {
  /** Request bytes all gateway services together may hold in memory; beyond it new bodies get 503. */
  readonly bodyBudgetBytes: number;
  /** A request body must have arrived this long after its headers; else 408 and the connection closes. */
  readonly bodyTimeoutMs: number;
}

export interface GeoConfig {
  /** 'embedded', a .mmdb path, or CIDR / range list files. */
  readonly database: string;
  readonly lists: readonly GeoListConfig[];
  readonly cacheSize: number;
}

export interface GeoListConfig {
  readonly country: string;
  readonly file: string;
}

export type QuotaDirection = 'total' | 'in' | 'out';
export type QuotaPeriod = 'none' | 'daily' | 'monthly';

export interface QuotaConfig {
  readonly bytes: number;
  readonly direction: QuotaDirection;
  readonly period: QuotaPeriod;
  /** IANA time zone for period boundaries. */
  readonly timezone: string;
  /** Epoch ms after which the user is refused, or null. */
  readonly expiresAt: number | null;
}

export interface RateConfig {
  readonly inBytesPerSec: number;
  readonly outBytesPerSec: number;
}

export interface UserConfig {
  readonly id: string;
  readonly quota: QuotaConfig | null;
  readonly rate: RateConfig | null;
  readonly keys: readonly string[];
  /** Keys issued through the admin API: only their SHA-256 is kept. */
  readonly keyHashes: readonly KeyHashConfig[];
  /** false: refused like a user over quota. */
  readonly enabled: boolean;
  /** Epoch ms after which the user is refused, or null (see also `quota.expiresAt`). */
  readonly expiresAt: number | null;
  /** The login for proxy services with `auth: users` (SOCKS5 username/password, Proxy-Authorization: Basic). */
  readonly proxy: ProxyLogin | null;
}

export interface KeyHashConfig {
  readonly id: string;
  /** Lowercase hex SHA-256 of the key. */
  readonly sha256: string;
}

/** A proxy login: the password in clear, or as `scrypt$N$r$p$salt$hash` (base64 salt and hash); exactly one. */
export interface ProxyLogin {
  readonly username: string;
  readonly password: string | null;
  readonly passwordHash: string | null;
}

export type ServiceConfig = ForwardServiceConfig | ProxyServiceConfig | GatewayServiceConfig;
export type ServiceType = ServiceConfig['type'];

/** What every service type has. */
export interface ServiceBase {
  readonly name: string;
  readonly listen: HostPort;
  readonly user: string | null;
  readonly maxConnections: number;
  readonly rate: RateConfig | null;
}

export type TargetStrategy = 'round-robin' | 'random' | 'least-connections' | 'failover';

export interface ForwardServiceConfig extends ServiceBase {
  readonly type: 'forward';
  readonly targets: readonly HostPort[];
  readonly strategy: TargetStrategy;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly halfCloseTimeoutMs: number;
  readonly noDelay: boolean;
  /** TCP keep-alive initial delay; 0 disables keep-alive. */
  readonly keepAliveMs: number;
  /** How long a failed target is skipped before it is probed again (doubles per failure up to 30x). */
  readonly targetBackoffMs: number;
}

export type ProxyRouting = 'direct' | 'upstream' | 'bypass_cn';

export interface ProxyServiceConfig extends ServiceBase {
  readonly type: 'proxy';
  /** Countries (ISO codes) dialled directly; the rest go through `upstream`. */
  readonly directCountries: readonly string[];
  readonly routing: ProxyRouting | 'custom';
  readonly upstream: URL | null;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly halfCloseTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly noDelay: boolean;
  readonly keepAliveMs: number;
  /** `CIDR[:port]` entries that open refused destinations (loopback, link-local …, tidegate's own ports by port). */
  readonly allowDestinations: readonly string[];
  /** Refuse RFC 1918, 100.64/10 and fc00::/7 destinations too. */
  readonly denyPrivate: boolean;
  /** Listening on a non-loopback address without client authentication is intended. */
  readonly allowOpen: boolean;
  /** `users`: clients log in with a `users[].proxy` login and are accounted as that user; `none`: no login. */
  readonly auth: ProxyAuthMode;
  /** Ordered routing rules, first match wins; the routing preset's own rules follow them. */
  readonly rules: readonly ProxyRuleConfig[];
  /** What a destination no rule matched gets; null: the routing preset's answer (today's behaviour). */
  readonly final: ProxyRuleAction | null;
  /** Named rule-set files that rules reference with `match: { ruleSet: NAME }`. */
  readonly ruleSets: readonly RuleSetConfig[];
}

export type ProxyRuleAction = 'direct' | 'reject' | 'upstream';
export type ProxyMatchKind = 'domain' | 'domainSuffix' | 'domainKeyword' | 'ip' | 'geoip' | 'port' | 'ruleSet';

/** One rule: a match of one kind (any of `values`) and what a matching destination gets. */
export interface ProxyRuleConfig {
  readonly match: { readonly kind: ProxyMatchKind; readonly values: readonly string[] };
  readonly action: ProxyRuleAction;
}

export interface RuleSetConfig {
  readonly name: string;
  readonly file: string;
  readonly format: 'domains' | 'cidrs' | 'v2ray' | 'auto';
}

export type ProxyAuthMode = 'none' | 'users';

export type ChannelKind = 'openai' | 'anthropic' | 'gemini';
export type BalanceStrategy = 'priority' | 'weighted' | 'round-robin' | 'least-in-flight' | 'lowest-latency';

export interface ChannelConfig {
  readonly name: string;
  readonly kind: ChannelKind;
  readonly baseUrl: URL;
  readonly keys: readonly string[];
  readonly credentialsDir: string | null;
  readonly weight: number;
  readonly priority: number;
  /** Model globs this channel serves; empty means every model. */
  readonly models: readonly string[];
  readonly maxConnections: number;
  /** An `openai` channel that speaks the Responses API: `/v1/responses` requests pass through unchanged. */
  readonly responses: boolean;
  /** Client model name → the name sent upstream (in the body, or in a Gemini URL). */
  readonly modelMap: Readonly<Record<string, string>>;
}

export interface RuleConfig {
  readonly match: {
    readonly model: string | null;
    readonly path: string | null;
    readonly header: { readonly name: string; readonly value: string } | null;
  };
  readonly channels: readonly string[];
  readonly strategy: BalanceStrategy | null;
  /** The model sent upstream for requests this rule matched (before a channel's modelMap); null: the client's. */
  readonly model: string | null;
}

export interface GatewayServiceConfig extends ServiceBase {
  readonly type: 'gateway';
  readonly channels: readonly ChannelConfig[];
  readonly rules: readonly RuleConfig[];
  readonly strategy: BalanceStrategy;
  readonly maxBodyBytes: number;
  readonly firstByteTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** Idle client connections are closed after this long. */
  readonly keepAliveTimeoutMs: number;
  readonly retries: number;
  readonly affinity: {
    readonly header: string;
    readonly bodyField: string | null;
    readonly maxEntries: number;
    readonly ttlMs: number;
  };
  readonly breaker: {
    readonly consecutiveFailures: number;
    readonly errorRatio: number;
    readonly minRequests: number;
    readonly windowMs: number;
    readonly openMs: number;
    readonly halfOpenProbes: number;
  };
}
