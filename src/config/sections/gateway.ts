import { DEFAULTS } from '../defaults.js';
import type {
  BalanceStrategy, ChannelConfig, ChannelHealthConfig, GatewayServiceConfig, RuleConfig,
} from '../types.js';
import { readLimits } from './limits.js';
import { join, type Reader } from '../validator.js';
import { BASE_KEYS, readBase } from './service-base.js';
import { readAcceptProxyProtocol, readPerIp } from './client-origin.js';

const STRATEGIES: readonly BalanceStrategy[] = [
  'priority', 'weighted', 'round-robin', 'least-in-flight', 'lowest-latency',
];
export const GATEWAY_KEYS = [
  'channels', 'rules', 'strategy', 'maxBodyBytes', 'firstByteTimeout', 'requestTimeout', 'keepAliveTimeout', 'retries',
  'affinity', 'breaker', 'sseKeepAlive', 'acceptProxyProtocol', 'perIp',
];
const CHANNEL_KEYS = [
  'name', 'kind', 'baseUrl', 'keys', 'credentialsDir', 'weight', 'priority', 'models', 'maxConnections',
  'responses', 'limits', 'modelMap', 'modelsRefresh', 'health',
];
const HEALTH_KEYS = ['interval', 'timeout', 'rise', 'fall', 'method', 'path', 'body'];
const HEALTH_METHODS = ['GET', 'POST', 'HEAD'] as const;
const AFFINITY_KEYS = ['header', 'bodyField', 'maxEntries', 'ttl'];
const BREAKER_KEYS = ['consecutiveFailures', 'errorRatio', 'minRequests', 'window', 'openFor', 'halfOpenProbes'];

/** A `type: gateway` service: LLM API routing over channels, with rules, affinity and a breaker per channel. */
export function readGateway(r: Reader, path: string, raw: Record<string, unknown>): GatewayServiceConfig {
  const o = r.object(path, raw, [...BASE_KEYS, ...GATEWAY_KEYS]);
  const d = DEFAULTS.gatewayService;
  const base = readBase(r, path, o);
  const channels = readChannels(r, join(path, 'channels'), o.channels);
  const channelNames = new Set(channels.map((c) => c.name));
  const rules = r.list(join(path, 'rules'), o.rules)
    .map((item, i) => readRule(r, join(join(path, 'rules'), i), item, channelNames));
  const a = r.object(join(path, 'affinity'), o.affinity, AFFINITY_KEYS);
  const bpath = join(path, 'breaker');
  const b = r.object(bpath, o.breaker, BREAKER_KEYS);
  const db = d.breaker;
  return {
    ...base,
    type: 'gateway',
    acceptProxyProtocol: readAcceptProxyProtocol(r, join(path, 'acceptProxyProtocol'), o.acceptProxyProtocol),
    perIp: readPerIp(r, join(path, 'perIp'), o.perIp, 'requests'),
    channels,
    rules,
    strategy: r.oneOf(join(path, 'strategy'), o.strategy, STRATEGIES, d.strategy),
    maxBodyBytes: r.size(join(path, 'maxBodyBytes'), o.maxBodyBytes, d.maxBodyBytes),
    firstByteTimeoutMs: r.duration(join(path, 'firstByteTimeout'), o.firstByteTimeout, d.firstByteTimeoutMs),
    requestTimeoutMs: r.duration(join(path, 'requestTimeout'), o.requestTimeout, d.requestTimeoutMs),
    keepAliveTimeoutMs: r.duration(join(path, 'keepAliveTimeout'), o.keepAliveTimeout, d.keepAliveTimeoutMs),
    retries: r.integer(join(path, 'retries'), o.retries, d.retries, 0, 20),
    sseKeepAliveMs: o.sseKeepAlive === false
      ? 0
      : r.duration(join(path, 'sseKeepAlive'), o.sseKeepAlive, d.sseKeepAliveMs),
    affinity: {
      header: r.string(join(path, 'affinity.header'), a.header, d.affinity.header).toLowerCase(),
      bodyField: r.string(join(path, 'affinity.bodyField'), a.bodyField, d.affinity.bodyField),
      maxEntries: r.integer(join(path, 'affinity.maxEntries'), a.maxEntries, d.affinity.maxEntries, 0, 10_000_000),
      ttlMs: r.duration(join(path, 'affinity.ttl'), a.ttl, d.affinity.ttlMs),
    },
    breaker: {
      consecutiveFailures:
        r.integer(join(bpath, 'consecutiveFailures'), b.consecutiveFailures, db.consecutiveFailures, 1, 1_000_000),
      errorRatio: r.number(join(bpath, 'errorRatio'), b.errorRatio, db.errorRatio, 0, 1),
      minRequests: r.integer(join(bpath, 'minRequests'), b.minRequests, db.minRequests, 1, 1_000_000),
      windowMs: r.duration(join(bpath, 'window'), b.window, db.windowMs),
      openMs: r.duration(join(bpath, 'openFor'), b.openFor, db.openMs),
      halfOpenProbes: r.integer(join(bpath, 'halfOpenProbes'), b.halfOpenProbes, db.halfOpenProbes, 1, 1000),
    },
  };
}

/** `channels:`: at least one, names unique, each with keys or a credentials directory. */
function readChannels(r: Reader, path: string, value: unknown): ChannelConfig[] {
  const d = DEFAULTS.channel;
  const names = new Set<string>();
  const channels = r.list(path, value).map((item, i) => {
    const cpath = join(path, i);
    const c = r.object(cpath, item, CHANNEL_KEYS);
    const name = r.requiredString(join(cpath, 'name'), c.name);
    if (name && names.has(name)) r.fail(join(cpath, 'name'), `duplicate channel name "${name}"`);
    names.add(name);
    const kind = r.oneOf(join(cpath, 'kind'), c.kind, ['openai', 'anthropic', 'gemini'] as const, d.kind);
    const keys = r.list(join(cpath, 'keys'), c.keys).map((k, j) => r.requiredString(join(join(cpath, 'keys'), j), k));
    const credentialsDir = r.string(join(cpath, 'credentialsDir'), c.credentialsDir, d.credentialsDir);
    if (keys.length === 0 && !credentialsDir) r.fail(cpath, 'expected "keys" or "credentialsDir"');
    const defaultBase = d.baseUrl[kind];
    return {
      name,
      kind,
      baseUrl: r.url(join(cpath, 'baseUrl'), c.baseUrl ?? defaultBase, ['http', 'https']) ?? new URL(defaultBase),
      keys,
      credentialsDir,
      weight: r.number(join(cpath, 'weight'), c.weight, d.weight, 0, 1_000_000),
      priority: r.integer(join(cpath, 'priority'), c.priority, d.priority, 0, 1_000_000),
      models: c.models === undefined
        ? [...d.models]
        : r.list(join(cpath, 'models'), c.models).map((m, j) => r.requiredString(join(join(cpath, 'models'), j), m)),
      maxConnections: r.integer(join(cpath, 'maxConnections'), c.maxConnections, d.maxConnections, 1, 100_000),
      responses: r.boolean(join(cpath, 'responses'), c.responses, d.responses),
      limits: readLimits(r, join(cpath, 'limits'), c.limits),
      modelMap: readModelMap(r, join(cpath, 'modelMap'), c.modelMap),
      health: readChannelHealth(r, join(cpath, 'health'), c.health),
      modelsRefreshMs: readRefresh(r, join(cpath, 'modelsRefresh'), c.modelsRefresh),
    };
  });
  if (channels.length === 0) r.fail(path, 'expected at least one channel');
  return channels;
}

/** `health: { interval, timeout, rise, fall, method, path, body }`; absent or false: no active checks. */
function readChannelHealth(r: Reader, path: string, value: unknown): ChannelHealthConfig | null {
  if (value === undefined || value === null || value === false) return null;
  const d = DEFAULTS.channelHealth;
  const o = r.object(path, value, HEALTH_KEYS);
  const checkPath = r.string(join(path, 'path'), o.path, null);
  if (checkPath !== null && !checkPath.startsWith('/')) r.fail(join(path, 'path'), 'expected a path starting with /');
  let body: string | null = null;
  if (typeof o.body === 'string') body = o.body;
  else if (o.body !== undefined && o.body !== null) body = JSON.stringify(o.body);
  const intervalMs = r.duration(join(path, 'interval'), o.interval, d.intervalMs);
  if (intervalMs < 10) r.fail(join(path, 'interval'), 'expected an interval of at least 10ms');
  return {
    intervalMs,
    timeoutMs: r.duration(join(path, 'timeout'), o.timeout, d.timeoutMs),
    rise: r.integer(join(path, 'rise'), o.rise, d.rise, 1, 100),
    fall: r.integer(join(path, 'fall'), o.fall, d.fall, 1, 100),
    method: r.oneOf(join(path, 'method'), o.method, HEALTH_METHODS, body === null ? d.method : 'POST'),
    path: checkPath,
    body,
  };
}

/** One routing rule: a match on model, path and/or a header, and the channels it may use. */
function readRule(r: Reader, rpath: string, item: unknown, channelNames: ReadonlySet<string>): RuleConfig {
  const ru = r.object(rpath, item, ['match', 'channels', 'strategy', 'model']);
  const m = r.object(join(rpath, 'match'), ru.match, ['model', 'path', 'header']);
  let header: { name: string; value: string } | null = null;
  if (m.header !== undefined) {
    const h = r.object(join(rpath, 'match.header'), m.header, ['name', 'value']);
    header = {
      name: r.requiredString(join(rpath, 'match.header.name'), h.name).toLowerCase(),
      value: r.requiredString(join(rpath, 'match.header.value'), h.value),
    };
  }
  const ruleChannels = r.list(join(rpath, 'channels'), ru.channels).map((c, j) => {
    const cname = r.requiredString(join(join(rpath, 'channels'), j), c);
    if (cname && !channelNames.has(cname)) r.fail(join(join(rpath, 'channels'), j), `unknown channel "${cname}"`);
    return cname;
  });
  if (ruleChannels.length === 0) r.fail(join(rpath, 'channels'), 'expected at least one channel name');
  return {
    match: {
      model: r.string(join(rpath, 'match.model'), m.model, null),
      path: r.string(join(rpath, 'match.path'), m.path, null),
      header,
    },
    channels: ruleChannels,
    strategy: ru.strategy === undefined
      ? null
      : r.oneOf(join(rpath, 'strategy'), ru.strategy, STRATEGIES, DEFAULTS.gatewayService.strategy),
    model: ru.model === undefined ? null : r.requiredString(join(rpath, 'model'), ru.model),
  };
}

/** `modelMap:`: client model name → upstream model name, both non-empty strings. */
function readModelMap(r: Reader, path: string, value: unknown): Readonly<Record<string, string>> {
  // No prototype: a client's model name is looked up in it (`constructor` is no mapping).
  const map: Record<string, string> = Object.create(null);
  if (value === undefined) return map;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    r.fail(path, 'expected a mapping of client model name to upstream model name');
    return map;
  }
  for (const [from, to] of Object.entries(value)) {
    const target = r.requiredString(join(path, from), to);
    if (from.length > 0 && target) map[from] = target;
  }
  return map;
}

/** `modelsRefresh:` how often the upstream's model list is fetched (0 or false: never); at least a second. */
function readRefresh(r: Reader, path: string, value: unknown): number {
  if (value === false) return 0;
  const ms = r.duration(path, value, DEFAULTS.channel.modelsRefreshMs);
  if (ms > 0 && ms < 1000) r.fail(path, `expected 0 (off) or at least 1s, got ${ms} ms`);
  return ms;
}
