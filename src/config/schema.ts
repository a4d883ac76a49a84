import { availableParallelism, totalmem } from 'node:os';
import { ConfigError } from '../errors.js';
import { formatHostPort, type HostPort } from '../util/address.js';
import { parseCidrWithPort } from '../util/cidr.js';
import { exposures } from './exposure.js';
import { deepFreeze, join, Reader } from './validator.js';

/**
 * The validated, normalized, frozen config. Every duration is in milliseconds, every size in bytes, every rate in
 * bytes per second. Defaults are merged here and nowhere else.
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
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface AdminConfig {
  /** null when the admin API is disabled (`admin: { listen: off }`). */
  readonly listen: HostPort | null;
  readonly token: string | null;
  /** A non-loopback admin listener without a token is intended. */
  readonly allowNoToken: boolean;
}

export interface StoreConfig {
  /** SQLite file, or null for none (counters stay in memory). */
  readonly sqlite: string | null;
  readonly redis: string | null;
  readonly sync: { readonly intervalMs: number; readonly batchSize: number; readonly maxPending: number };
}

export interface PoolConfig {
  readonly threads: number;
  /** Bodies at or above this size are parsed in the pool; 'auto' uses the benched threshold. */
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
}

export type ServiceConfig = ForwardServiceConfig | ProxyServiceConfig | GatewayServiceConfig;
export type ServiceType = ServiceConfig['type'];

interface ServiceBase {
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
}

export type ChannelKind = 'openai' | 'anthropic';
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
}

export interface RuleConfig {
  readonly match: {
    readonly model: string | null;
    readonly path: string | null;
    readonly header: { readonly name: string; readonly value: string } | null;
  };
  readonly channels: readonly string[];
  readonly strategy: BalanceStrategy | null;
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

const TOP_KEYS = ['admin', 'log', 'store', 'pool', 'geo', 'reload', 'gateway', 'shutdownGrace', 'users', 'services'] as const;
const SERVICE_TYPES = ['forward', 'proxy', 'gateway'] as const;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Validates a whole config document (after `${ENV}` expansion) and returns the normalized, frozen config, or
 * throws one ConfigError carrying every problem with its path.
 */
export function validateConfig(doc: unknown, source?: string): Config {
  const r = new Reader();
  const top = r.object('', doc, TOP_KEYS);
  const users = readUsers(r, top.users);
  const config: Config = {
    admin: readAdmin(r, top.admin),
    log: readLog(r, top.log),
    store: readStore(r, top.store),
    pool: readPool(r, top.pool),
    geo: readGeo(r, top.geo),
    reload: readReload(r, top.reload),
    gateway: readGatewayLimits(r, top.gateway),
    shutdownGraceMs: r.duration('shutdownGrace', top.shutdownGrace, 30_000),
    users,
    services: readServices(r, top.services, users),
  };
  for (const exposure of exposures(config)) if (!exposure.allowed) r.fail(exposure.path, exposure.message);
  if (r.issues.length > 0) throw new ConfigError(r.issues, source);
  return deepFreeze(config);
}

function readAdmin(r: Reader, value: unknown): AdminConfig {
  const o = r.object('admin', value, ['listen', 'token', 'allowNoToken']);
  const listen = o.listen === 'off' || o.listen === false ? null : r.hostPort('admin.listen', o.listen ?? '127.0.0.1:9090');
  const token = r.string('admin.token', o.token, null);
  return { listen, token: token === '' ? null : token, allowNoToken: r.boolean('admin.allowNoToken', o.allowNoToken, false) };
}

function readLog(r: Reader, value: unknown): { level: LogLevel } {
  const o = r.object('log', value, ['level']);
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
  return { level: r.oneOf('log.level', o.level, levels, 'info') };
}

function readStore(r: Reader, value: unknown): StoreConfig {
  const o = r.object('store', value, ['sqlite', 'redis', 'sync']);
  const sync = r.object('store.sync', o.sync, ['interval', 'batchSize', 'maxPending']);
  let sqlite: string | null = './data/tidegate.db';
  if (o.sqlite === false || o.sqlite === 'off' || o.sqlite === '') sqlite = null;
  else if (o.sqlite !== undefined) sqlite = r.string('store.sqlite', o.sqlite, sqlite);
  const redis = r.string('store.redis', o.redis, null);
  if (redis) r.url('store.redis', redis, ['redis', 'rediss']);
  return {
    sqlite,
    redis: redis === '' ? null : redis,
    sync: {
      intervalMs: r.duration('store.sync.interval', sync.interval, 45_000),
      batchSize: r.integer('store.sync.batchSize', sync.batchSize, 500, 1, 1_000_000),
      maxPending: r.integer('store.sync.maxPending', sync.maxPending, 1000, 1, 10_000_000),
    },
  };
}

function readPool(r: Reader, value: unknown): PoolConfig {
  const o = r.object('pool', value, ['threads', 'jsonOffloadBytes', 'maxQueue', 'idleTimeout']);
  const cores = availableParallelism();
  const threads = o.threads === 'auto' || o.threads === undefined
    ? Math.max(1, Math.min(cores, 4))
    : r.integer('pool.threads', o.threads, 1, 1, 256);
  const jsonOffloadBytes = o.jsonOffloadBytes === 'auto' || o.jsonOffloadBytes === undefined
    ? 'auto'
    : r.size('pool.jsonOffloadBytes', o.jsonOffloadBytes, 262_144);
  return {
    threads,
    jsonOffloadBytes,
    maxQueue: o.maxQueue === 'auto' || o.maxQueue === undefined ? threads * 64 : r.integer('pool.maxQueue', o.maxQueue, 256, 1),
    idleTimeoutMs: r.duration('pool.idleTimeout', o.idleTimeout, 30_000),
  };
}

function readGeo(r: Reader, value: unknown): GeoConfig {
  const o = r.object('geo', value, ['database', 'lists', 'cacheSize']);
  const lists = r.list('geo.lists', o.lists).map((item, i) => {
    const path = join('geo.lists', i);
    const l = r.object(path, item, ['country', 'file']);
    const country = r.requiredString(join(path, 'country'), l.country).toUpperCase();
    if (country && !/^[A-Z]{2}$/.test(country)) r.fail(join(path, 'country'), `expected a two-letter country code, got "${country}"`);
    return { country, file: r.requiredString(join(path, 'file'), l.file) };
  });
  return {
    database: r.string('geo.database', o.database, 'embedded'),
    lists,
    cacheSize: r.integer('geo.cacheSize', o.cacheSize, 10_000, 0, 10_000_000),
  };
}

function readReload(r: Reader, value: unknown): { watch: boolean } {
  const o = r.object('reload', value, ['watch']);
  return { watch: r.boolean('reload.watch', o.watch, false) };
}

/** Default body budget: an eighth of the machine's memory, at most 256 MiB. */
export const DEFAULT_BODY_BUDGET_BYTES = Math.min(256 * 1024 * 1024, Math.floor(totalmem() / 8));

function readGatewayLimits(r: Reader, value: unknown): GatewayLimitsConfig {
  const o = r.object('gateway', value, ['bodyBudget', 'bodyTimeout']);
  const bodyBudgetBytes = r.size('gateway.bodyBudget', o.bodyBudget, DEFAULT_BODY_BUDGET_BYTES);
  if (bodyBudgetBytes < 1024) r.fail('gateway.bodyBudget', `expected at least 1KiB, got ${bodyBudgetBytes} bytes`);
  const bodyTimeoutMs = r.duration('gateway.bodyTimeout', o.bodyTimeout, 30_000);
  if (bodyTimeoutMs <= 0) r.fail('gateway.bodyTimeout', 'expected a duration above 0, like 30s');
  return { bodyBudgetBytes, bodyTimeoutMs };
}

function readRate(r: Reader, path: string, value: unknown): RateConfig | null {
  if (value === undefined || value === null) return null;
  const o = r.object(path, value, ['in', 'out']);
  const rate = { inBytesPerSec: r.rate(join(path, 'in'), o.in, 0), outBytesPerSec: r.rate(join(path, 'out'), o.out, 0) };
  if (o.in === undefined && o.out === undefined) r.fail(path, 'expected "in" and/or "out"');
  return rate;
}

function readQuota(r: Reader, path: string, value: unknown): QuotaConfig | null {
  if (value === undefined || value === null) return null;
  const o = r.object(path, value, ['bytes', 'direction', 'period', 'timezone', 'expires']);
  if (o.bytes === undefined) r.fail(join(path, 'bytes'), 'expected a size like 100GiB, got nothing');
  const timezone = r.string(join(path, 'timezone'), o.timezone, 'UTC');
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    r.fail(join(path, 'timezone'), `expected an IANA time zone like "UTC" or "Asia/Shanghai", got "${timezone}"`);
  }
  let expiresAt: number | null = null;
  if (o.expires !== undefined && o.expires !== null) {
    const t = o.expires instanceof Date ? o.expires.getTime() : typeof o.expires === 'string' ? Date.parse(o.expires) : NaN;
    if (Number.isNaN(t)) r.fail(join(path, 'expires'), `expected a date like 2026-12-31 or an ISO timestamp, got ${JSON.stringify(o.expires)}`);
    else expiresAt = t;
  }
  return {
    bytes: r.size(join(path, 'bytes'), o.bytes, 0),
    direction: r.oneOf(join(path, 'direction'), o.direction, ['total', 'in', 'out'] as const, 'total'),
    period: r.oneOf(join(path, 'period'), o.period, ['none', 'daily', 'monthly'] as const, 'none'),
    timezone,
    expiresAt,
  };
}

function readUsers(r: Reader, value: unknown): UserConfig[] {
  const ids = new Set<string>();
  const keys = new Map<string, string>();
  return r.list('users', value).map((item, i) => {
    const path = join('users', i);
    const o = r.object(path, item, ['id', 'quota', 'rate', 'keys']);
    const id = r.requiredString(join(path, 'id'), o.id);
    if (id && ids.has(id)) r.fail(join(path, 'id'), `duplicate user id "${id}"`);
    ids.add(id);
    const userKeys = r.list(join(path, 'keys'), o.keys).map((k, j) => {
      const key = r.requiredString(join(join(path, 'keys'), j), k);
      const owner = keys.get(key);
      if (key && owner !== undefined) r.fail(join(join(path, 'keys'), j), `key is already used by user "${owner}"`);
      keys.set(key, id);
      return key;
    });
    return { id, quota: readQuota(r, join(path, 'quota'), o.quota), rate: readRate(r, join(path, 'rate'), o.rate), keys: userKeys };
  });
}

function readServices(r: Reader, value: unknown, users: readonly UserConfig[]): ServiceConfig[] {
  const names = new Set<string>();
  const listens = new Map<string, string>();
  const userIds = new Set(users.map((u) => u.id));
  const services: ServiceConfig[] = [];
  r.list('services', value).forEach((item, i) => {
    const path = join('services', i);
    const raw = item && typeof item === 'object' && !Array.isArray(item) ? (item as Record<string, unknown>) : {};
    if (raw !== item) {
      r.fail(path, `expected a service object, got ${JSON.stringify(item)}`);
      return;
    }
    const type = r.oneOf(join(path, 'type'), raw.type, SERVICE_TYPES, 'forward');
    if (raw.type === undefined) r.fail(join(path, 'type'), `expected one of "forward", "proxy", "gateway", got nothing`);
    const service =
      type === 'forward' ? readForward(r, path, raw) : type === 'proxy' ? readProxy(r, path, raw) : readGateway(r, path, raw);
    if (service.name) {
      if (names.has(service.name)) r.fail(join(path, 'name'), `duplicate service name "${service.name}"`);
      names.add(service.name);
    }
    if (service.user !== null && !userIds.has(service.user)) {
      r.fail(join(path, 'user'), `unknown user "${service.user}" (not in users[])`);
    }
    if (service.listen) {
      const key = formatHostPort(service.listen);
      const other = listens.get(key);
      if (other !== undefined && service.listen.port !== 0) r.fail(join(path, 'listen'), `${key} is already used by service "${other}"`);
      listens.set(key, service.name);
    }
    services.push(service);
  });
  return services;
}

const BASE_KEYS = ['name', 'type', 'listen', 'user', 'maxConnections', 'rate'];

function readBase(r: Reader, path: string, o: Record<string, unknown>): Omit<ServiceBase, 'listen'> & { listen: HostPort } {
  const name = r.requiredString(join(path, 'name'), o.name);
  if (name && !NAME_RE.test(name)) r.fail(join(path, 'name'), `expected letters, digits, "_", "." or "-" (at most 64), got "${name}"`);
  return {
    name,
    listen: r.hostPort(join(path, 'listen'), o.listen) ?? { host: '127.0.0.1', port: 0 },
    user: r.string(join(path, 'user'), o.user, null),
    maxConnections: r.integer(join(path, 'maxConnections'), o.maxConnections, 10_000, 1, 10_000_000),
    rate: readRate(r, join(path, 'rate'), o.rate),
  };
}

function readTcpTuning(r: Reader, path: string, o: Record<string, unknown>) {
  return {
    connectTimeoutMs: r.duration(join(path, 'connectTimeout'), o.connectTimeout, 5_000),
    idleTimeoutMs: r.duration(join(path, 'idleTimeout'), o.idleTimeout, 300_000),
    halfCloseTimeoutMs: r.duration(join(path, 'halfCloseTimeout'), o.halfCloseTimeout, 60_000),
    noDelay: r.boolean(join(path, 'noDelay'), o.noDelay, true),
    keepAliveMs: o.keepAlive === false ? 0 : r.duration(join(path, 'keepAlive'), o.keepAlive === true ? undefined : o.keepAlive, 60_000),
  };
}

const TCP_KEYS = ['connectTimeout', 'idleTimeout', 'halfCloseTimeout', 'noDelay', 'keepAlive'];

function readForward(r: Reader, path: string, raw: Record<string, unknown>): ForwardServiceConfig {
  const o = r.object(path, raw, [...BASE_KEYS, ...TCP_KEYS, 'targets', 'strategy', 'targetBackoff']);
  const base = readBase(r, path, o);
  const targets = r.list(join(path, 'targets'), o.targets)
    .map((t, i) => r.hostPort(join(join(path, 'targets'), i), t))
    .filter((t): t is HostPort => t !== null);
  if (!Array.isArray(o.targets) || o.targets.length === 0) r.fail(join(path, 'targets'), 'expected at least one target host:port');
  return {
    ...base,
    type: 'forward',
    targets,
    strategy: r.oneOf(join(path, 'strategy'), o.strategy, ['round-robin', 'random', 'least-connections', 'failover'] as const, 'round-robin'),
    ...readTcpTuning(r, path, o),
    targetBackoffMs: r.duration(join(path, 'targetBackoff'), o.targetBackoff, 1_000),
  };
}

/** Countries that `bypass_cn` dials directly. */
export const BYPASS_CN_COUNTRIES = ['CN'] as const;

function readProxy(r: Reader, path: string, raw: Record<string, unknown>): ProxyServiceConfig {
  const o = r.object(path, raw, [...BASE_KEYS, ...TCP_KEYS, 'routing', 'direct', 'upstream', 'handshakeTimeout', 'allowDestinations', 'denyPrivate', 'allowOpen']);
  const base = readBase(r, path, o);
  let routing: ProxyServiceConfig['routing'] = r.oneOf(join(path, 'routing'), o.routing, ['direct', 'upstream', 'bypass_cn'] as const, 'direct');
  let directCountries: string[] = routing === 'bypass_cn' ? [...BYPASS_CN_COUNTRIES] : [];
  if (o.direct !== undefined) {
    routing = 'custom';
    directCountries = r.list(join(path, 'direct'), o.direct).map((c, i) => {
      const code = r.requiredString(join(join(path, 'direct'), i), c).toUpperCase();
      if (code && !/^[A-Z]{2}$/.test(code)) r.fail(join(join(path, 'direct'), i), `expected a two-letter country code, got "${code}"`);
      return code;
    });
  }
  const upstream = o.upstream === undefined || o.upstream === null || o.upstream === ''
    ? null
    : r.url(join(path, 'upstream'), o.upstream, ['socks5', 'http']);
  if (upstream === null && routing !== 'direct' && o.upstream === undefined) {
    r.fail(join(path, 'upstream'), `routing "${routing}" sends some destinations upstream: expected socks5://host:port or http://host:port`);
  }
  return {
    ...base,
    type: 'proxy',
    routing,
    directCountries,
    upstream,
    ...readTcpTuning(r, path, o),
    handshakeTimeoutMs: r.duration(join(path, 'handshakeTimeout'), o.handshakeTimeout, 10_000),
    allowDestinations: readAllowDestinations(r, join(path, 'allowDestinations'), o.allowDestinations),
    denyPrivate: r.boolean(join(path, 'denyPrivate'), o.denyPrivate, false),
    allowOpen: r.boolean(join(path, 'allowOpen'), o.allowOpen, false),
  };
}

function readAllowDestinations(r: Reader, path: string, value: unknown): string[] {
  return r.list(path, value).map((item, i) => {
    const text = r.requiredString(join(path, i), item).trim();
    const range = text ? parseCidrWithPort(text) : null;
    if (typeof range === 'string') r.fail(join(path, i), range);
    return text;
  });
}

const STRATEGIES = ['priority', 'weighted', 'round-robin', 'least-in-flight', 'lowest-latency'] as const;

function readGateway(r: Reader, path: string, raw: Record<string, unknown>): GatewayServiceConfig {
  const o = r.object(path, raw, [
    ...BASE_KEYS, 'channels', 'rules', 'strategy', 'maxBodyBytes', 'firstByteTimeout', 'requestTimeout', 'keepAliveTimeout', 'retries', 'affinity', 'breaker',
  ]);
  const base = readBase(r, path, o);
  const channelNames = new Set<string>();
  const channels = r.list(join(path, 'channels'), o.channels).map((item, i) => {
    const cpath = join(join(path, 'channels'), i);
    const c = r.object(cpath, item, ['name', 'kind', 'baseUrl', 'keys', 'credentialsDir', 'weight', 'priority', 'models', 'maxConnections']);
    const name = r.requiredString(join(cpath, 'name'), c.name);
    if (name && channelNames.has(name)) r.fail(join(cpath, 'name'), `duplicate channel name "${name}"`);
    channelNames.add(name);
    const kind = r.oneOf(join(cpath, 'kind'), c.kind, ['openai', 'anthropic'] as const, 'openai');
    const keys = r.list(join(cpath, 'keys'), c.keys).map((k, j) => r.requiredString(join(join(cpath, 'keys'), j), k));
    const credentialsDir = r.string(join(cpath, 'credentialsDir'), c.credentialsDir, null);
    if (keys.length === 0 && !credentialsDir) r.fail(cpath, 'expected "keys" or "credentialsDir"');
    const defaultBase = kind === 'openai' ? 'https://api.openai.com/v1' : 'https://api.anthropic.com';
    return {
      name,
      kind,
      baseUrl: r.url(join(cpath, 'baseUrl'), c.baseUrl ?? defaultBase, ['http', 'https']) ?? new URL(defaultBase),
      keys,
      credentialsDir,
      weight: r.number(join(cpath, 'weight'), c.weight, 1, 0, 1_000_000),
      priority: r.integer(join(cpath, 'priority'), c.priority, 1, 0, 1_000_000),
      models: r.list(join(cpath, 'models'), c.models).map((m, j) => r.requiredString(join(join(cpath, 'models'), j), m)),
      maxConnections: r.integer(join(cpath, 'maxConnections'), c.maxConnections, 256, 1, 100_000),
    };
  });
  if (channels.length === 0) r.fail(join(path, 'channels'), 'expected at least one channel');
  const rules = r.list(join(path, 'rules'), o.rules).map((item, i) => {
    const rpath = join(join(path, 'rules'), i);
    const ru = r.object(rpath, item, ['match', 'channels', 'strategy']);
    const m = r.object(join(rpath, 'match'), ru.match, ['model', 'path', 'header']);
    let header: { name: string; value: string } | null = null;
    if (m.header !== undefined) {
      const h = r.object(join(rpath, 'match.header'), m.header, ['name', 'value']);
      header = { name: r.requiredString(join(rpath, 'match.header.name'), h.name).toLowerCase(), value: r.requiredString(join(rpath, 'match.header.value'), h.value) };
    }
    const ruleChannels = r.list(join(rpath, 'channels'), ru.channels).map((c, j) => {
      const cname = r.requiredString(join(join(rpath, 'channels'), j), c);
      if (cname && !channelNames.has(cname)) r.fail(join(join(rpath, 'channels'), j), `unknown channel "${cname}"`);
      return cname;
    });
    if (ruleChannels.length === 0) r.fail(join(rpath, 'channels'), 'expected at least one channel name');
    return {
      match: { model: r.string(join(rpath, 'match.model'), m.model, null), path: r.string(join(rpath, 'match.path'), m.path, null), header },
      channels: ruleChannels,
      strategy: ru.strategy === undefined ? null : r.oneOf(join(rpath, 'strategy'), ru.strategy, STRATEGIES, 'priority'),
    };
  });
  const a = r.object(join(path, 'affinity'), o.affinity, ['header', 'bodyField', 'maxEntries', 'ttl']);
  const b = r.object(join(path, 'breaker'), o.breaker, ['consecutiveFailures', 'errorRatio', 'minRequests', 'window', 'openFor', 'halfOpenProbes']);
  return {
    ...base,
    type: 'gateway',
    channels,
    rules,
    strategy: r.oneOf(join(path, 'strategy'), o.strategy, STRATEGIES, 'priority'),
    maxBodyBytes: r.size(join(path, 'maxBodyBytes'), o.maxBodyBytes, 10 * 1024 * 1024),
    firstByteTimeoutMs: r.duration(join(path, 'firstByteTimeout'), o.firstByteTimeout, 30_000),
    requestTimeoutMs: r.duration(join(path, 'requestTimeout'), o.requestTimeout, 600_000),
    keepAliveTimeoutMs: r.duration(join(path, 'keepAliveTimeout'), o.keepAliveTimeout, 65_000),
    retries: r.integer(join(path, 'retries'), o.retries, 2, 0, 20),
    affinity: {
      header: r.string(join(path, 'affinity.header'), a.header, 'x-session-id').toLowerCase(),
      bodyField: r.string(join(path, 'affinity.bodyField'), a.bodyField, null),
      maxEntries: r.integer(join(path, 'affinity.maxEntries'), a.maxEntries, 10_000, 0, 10_000_000),
      ttlMs: r.duration(join(path, 'affinity.ttl'), a.ttl, 3_600_000),
    },
    breaker: {
      consecutiveFailures: r.integer(join(path, 'breaker.consecutiveFailures'), b.consecutiveFailures, 5, 1, 1_000_000),
      errorRatio: r.number(join(path, 'breaker.errorRatio'), b.errorRatio, 0.5, 0, 1),
      minRequests: r.integer(join(path, 'breaker.minRequests'), b.minRequests, 20, 1, 1_000_000),
      windowMs: r.duration(join(path, 'breaker.window'), b.window, 60_000),
      openMs: r.duration(join(path, 'breaker.openFor'), b.openFor, 30_000),
      halfOpenProbes: r.integer(join(path, 'breaker.halfOpenProbes'), b.halfOpenProbes, 1, 1, 1000),
    },
  };
}
