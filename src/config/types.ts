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
  readonly resolver: ResolverConfig;
  readonly reload: { readonly watch: boolean };
  /** Process-wide limits shared by every gateway service. */
  readonly gateway: GatewayLimitsConfig;
  /** How long removed services and a shutting-down process let live connections finish. */
  readonly shutdownGraceMs: number;
  readonly users: readonly UserConfig[];
  readonly services: readonly ServiceConfig[];
  /** Model prices (`prices:`, `pricesFile:`, `unpriced:`). */
  readonly pricing: PricingConfig;
  /** Pushed traffic reports; null when off. */
  readonly report: ReportConfig | null;
  /** Worker processes sharing the listeners (`workers: auto | N`, `auto` resolved); 1 runs everything in-process. */
  readonly workers: number;
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

/** One model's prices, per million tokens, in `currency` (a number of currency units). */
export interface PriceConfig {
  readonly input: number;
  readonly output: number;
  readonly cacheRead: number;
  readonly cacheWrite: number;
  readonly reasoning: number;
  readonly currency: string;
}

export interface PricingConfig {
  /** `prices:` in the order written: the first glob that matches a model prices it. */
  readonly rules: readonly ({ readonly glob: string } & PriceConfig)[];
  /** `pricesFile:` (LiteLLM's model_prices_and_context_window.json shape): exact model names; after `rules`. */
  readonly file: string | null;
  readonly models: Readonly<Record<string, PriceConfig>>;
  /** A model with no price: `count` (cost 0, counted as unpriced) or `refuse` (403). */
  readonly unpriced: 'count' | 'refuse';
  /** The one currency every price is in (null: no prices). */
  readonly currency: string | null;
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
  readonly portRange: PortRange;
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

export interface ResolverConfig {
  /** "ip" or "ip:port" (IPv6 as "[ip]:port"); empty: the system's. */
  readonly servers: readonly string[];
  readonly minTtlMs: number;
  readonly maxTtlMs: number;
  readonly negativeTtlMs: number;
  readonly cacheSize: number;
  readonly hostsFile: string | null;
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
  /** Infinity when the quota sets no byte budget (only tokens, requests or cost). */
  readonly bytes: number;
  /** Gateway token budgets per period, total or by class (null: none). */
  readonly tokens: TokenBudget | null;
  /** Gateway requests per period (null: none). */
  readonly requests: number | null;
  /** Gateway cost per period in micro-units of `costCurrency` (null: none). */
  readonly costMicros: number | null;
  readonly costCurrency: string | null;
  /** A monthly period starts on this day of the month (1–28). */
  readonly resetDay: number;
  readonly direction: QuotaDirection;
  readonly period: QuotaPeriod;
  /** IANA time zone for period boundaries. */
  readonly timezone: string;
  /** Epoch ms after which the user is refused, or null. */
  readonly expiresAt: number | null;
}

/** Gateway rate limits: requests and tokens per minute, requests at once; null: no such limit. */
export interface LimitsConfig {
  readonly rpm: number | null;
  readonly tpm: number | null;
  readonly concurrent: number | null;
}

/** Token budgets; null: no budget for that class. */
export interface TokenBudget {
  readonly total: number | null;
  readonly input: number | null;
  readonly cacheRead: number | null;
  readonly cacheWrite: number | null;
  readonly output: number | null;
  readonly reasoning: number | null;
}

export interface RateConfig {
  readonly inBytesPerSec: number;
  readonly outBytesPerSec: number;
}

export interface UserConfig {
  readonly id: string;
  readonly quota: QuotaConfig | null;
  readonly rate: RateConfig | null;
  /** Gateway rate limits of the user (all its keys together). */
  readonly limits: LimitsConfig | null;
  /** Every client key of the user (the plain strings and the `key` of each object form). */
  readonly keys: readonly string[];
  /** Keys written as objects (`{ key, name, quota, limits, expires }`): their own budgets, limits and expiry. */
  readonly keyConfigs: readonly KeyConfig[];
  /** Keys issued through the admin API: only their SHA-256 is kept. */
  readonly keyHashes: readonly KeyHashConfig[];
  /** false: refused like a user over quota. */
  readonly enabled: boolean;
  /** Epoch ms after which the user is refused, or null (see also `quota.expiresAt`). */
  readonly expiresAt: number | null;
  /** The login for proxy services with `auth: users` (SOCKS5 username/password, Proxy-Authorization: Basic). */
  readonly proxy: ProxyLogin | null;
  /** The user's own ports: where an admin API service of this user with `listen: "<host>:auto"` takes one. */
  readonly ports: PortRange | null;
}

/** Ports `from` to `to`, both included. */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** A client key with its own quota (gateway budgets), rate limits and expiry, on top of its user's. */
export interface KeyConfig {
  readonly key: string;
  /** Unique within the user; what `/users/:id/usage` and messages call the key. */
  readonly name: string;
  readonly quota: QuotaConfig | null;
  readonly limits: LimitsConfig | null;
  /** Epoch ms after which the key is refused (401), or null. */
  readonly expiresAt: number | null;
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

/** `acceptProxyProtocol:` of a listener (forward, proxy, gateway). */
export interface AcceptProxyProtocolConfig {
  /** CIDRs of peers trusted to send a PROXY header; any other source is closed. */
  readonly from: readonly string[];
  readonly timeoutMs: number;
}

/** `perIp:` limits of one client address; 0 is no limit. */
export interface PerIpConfig {
  readonly maxConnections: number;
  /** New connections per second (burst of the same size). */
  readonly connectRate: number;
  /** forward / proxy: bytes per second each way, shared by the address's relays; gateway: requests per second. */
  readonly rate: number;
}

export type TargetStrategy = 'round-robin' | 'random' | 'least-connections' | 'failover' | 'source-hash';

/** A forward target: an address (the string form is weight 1, not a backup) with its share and role. */
export interface ForwardTarget extends HostPort {
  /** Relative share of new connections (1-1000). */
  readonly weight: number;
  /** Used only while every non-backup target is down. */
  readonly backup: boolean;
}

/** A forward service's active target checks: a TCP connect, or a connect that sends `send` and awaits `expect`. */
export interface TargetHealthConfig extends HealthCheckConfig {
  readonly type: 'tcp' | 'send-expect';
  readonly send: string;
  readonly expect: string;
}

export interface ForwardServiceConfig extends ServiceBase {
  readonly type: 'forward';
  readonly targets: readonly ForwardTarget[];
  readonly strategy: TargetStrategy;
  /** Active checks of every target; null: only failed targets are probed, after their back-off. */
  readonly health: TargetHealthConfig | null;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly halfCloseTimeoutMs: number;
  readonly noDelay: boolean;
  /** TCP keep-alive initial delay; 0 disables keep-alive. */
  readonly keepAliveMs: number;
  /** How long a failed target is skipped before it is probed again (doubles per failure up to 30x). */
  readonly targetBackoffMs: number;
  /** PROXY protocol header sent to targets ahead of the client's bytes, or null. */
  readonly proxyProtocol: 'v1' | 'v2' | null;
  readonly acceptProxyProtocol: AcceptProxyProtocolConfig | null;
  readonly perIp: PerIpConfig | null;
}

export type ProxyRouting = 'direct' | 'upstream' | 'bypass_cn';

export interface ProxyServiceConfig extends ServiceBase {
  readonly type: 'proxy';
  readonly acceptProxyProtocol: AcceptProxyProtocolConfig | null;
  readonly perIp: PerIpConfig | null;
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
  /** Named upstream proxies and groups of them, for `action: { upstream: NAME }`. */
  readonly upstreams: readonly ProxyUpstreamConfig[];
  /** With `final: { upstream: NAME }`, that name; else null. */
  readonly finalUpstream: string | null;
}

/** Active health checks (HAProxy's inter, timeout, rise, fall); intervalMs 0: no probes. */
export interface HealthCheckConfig {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly rise: number;
  readonly fall: number;
}

export type UpstreamGroupStrategy = 'failover' | 'round-robin';

/** A named upstream proxy (`url`, probed by `check`), or a group of them (`members`, tried by `strategy`). */
export type ProxyUpstreamConfig = UpstreamProxyConfig | UpstreamGroupConfig;

export interface UpstreamProxyConfig {
  readonly kind: 'proxy';
  readonly name: string;
  readonly url: URL;
  readonly check: HealthCheckConfig;
}

export interface UpstreamGroupConfig {
  readonly kind: 'group';
  readonly name: string;
  /** Names of `kind: proxy` upstreams, in failover order. */
  readonly members: readonly string[];
  readonly strategy: UpstreamGroupStrategy;
}

export type ProxyRuleAction = 'direct' | 'reject' | 'upstream';
export type ProxyMatchKind = 'domain' | 'domainSuffix' | 'domainKeyword' | 'ip' | 'geoip' | 'port' | 'ruleSet';

/** One rule: a match of one kind (any of `values`) and what a matching destination gets. */
export interface ProxyRuleConfig {
  readonly match: { readonly kind: ProxyMatchKind; readonly values: readonly string[] };
  readonly action: ProxyRuleAction;
  /** For `action: { upstream: NAME }`, the named upstream or group; absent or null: the service's `upstream`. */
  readonly upstream?: string | null;
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
  /** The provider tier's limits: a channel over them is skipped by the balancer. */
  readonly limits: LimitsConfig | null;
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
  /** How often the upstream's models endpoint is read for `/v1/models` (0: never). */
  readonly modelsRefreshMs: number;
  /** Active checks of the channel; null: only the breaker (real traffic) tells. */
  readonly health: ChannelHealthConfig | null;
}

/** A channel's check: `method path` (with `body`) on the channel's origin; 2xx and 3xx answers are good. */
export interface ChannelHealthConfig extends HealthCheckConfig {
  readonly method: 'GET' | 'POST' | 'HEAD';
  /** Absolute path on the channel's origin; null: the kind's model list under the base URL. */
  readonly path: string | null;
  /** A JSON body (a configured cheap request), or null. */
  readonly body: string | null;
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
  readonly acceptProxyProtocol: AcceptProxyProtocolConfig | null;
  readonly perIp: PerIpConfig | null;
  readonly channels: readonly ChannelConfig[];
  readonly rules: readonly RuleConfig[];
  readonly strategy: BalanceStrategy;
  readonly maxBodyBytes: number;
  readonly firstByteTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** Idle client connections are closed after this long. */
  readonly keepAliveTimeoutMs: number;
  readonly retries: number;
  /** Keep-alive frames on a streamed answer while its upstream has sent nothing yet, this often (0: off). */
  readonly sseKeepAliveMs: number;
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
