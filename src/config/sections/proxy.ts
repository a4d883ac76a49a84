import { parseCidr, parseCidrWithPort } from '../../util/cidr.js';
import { DEFAULTS } from '../defaults.js';
import type {
  ProxyMatchKind, ProxyRuleAction, ProxyRuleConfig, ProxyServiceConfig, RuleSetConfig,
} from '../types.js';
import { readUpstreams } from './proxy-upstreams.js';
import { join, type Reader } from '../validator.js';
import { BASE_KEYS, readBase, readTcpTuning, TCP_KEYS } from './service-base.js';

/** Countries that `bypass_cn` dials directly. */
export const BYPASS_CN_COUNTRIES = ['CN'] as const;

const ROUTINGS = ['direct', 'upstream', 'bypass_cn'] as const;
export const PROXY_KEYS = [
  'routing', 'direct', 'upstream', 'handshakeTimeout', 'allowDestinations', 'denyPrivate', 'allowOpen', 'auth',
  'rules', 'final', 'ruleSets', 'upstreams',
];
const ACTIONS = ['direct', 'reject', 'upstream'] as const;
const MATCH_KINDS: readonly ProxyMatchKind[] = [
  'domain', 'domainSuffix', 'domainKeyword', 'ip', 'geoip', 'port', 'ruleSet',
];
const FORMATS = ['domains', 'cidrs', 'v2ray', 'auto'] as const;
const AUTH_MODES = ['none', 'users'] as const;

/** A `type: proxy` service: SOCKS5 and HTTP CONNECT, routed directly or upstream by country. */
export function readProxy(r: Reader, path: string, raw: Record<string, unknown>): ProxyServiceConfig {
  const o = r.object(path, raw, [...BASE_KEYS, ...TCP_KEYS, ...PROXY_KEYS]);
  const d = DEFAULTS.proxy;
  const base = readBase(r, path, o);
  let routing: ProxyServiceConfig['routing'] = r.oneOf(join(path, 'routing'), o.routing, ROUTINGS, d.routing);
  let directCountries: string[] = routing === 'bypass_cn' ? [...BYPASS_CN_COUNTRIES] : [];
  if (o.direct !== undefined) {
    routing = 'custom';
    directCountries = r.list(join(path, 'direct'), o.direct).map((c, i) => {
      const at = join(join(path, 'direct'), i);
      const code = r.requiredString(at, c).toUpperCase();
      if (code && !/^[A-Z]{2}$/.test(code)) r.fail(at, `expected a two-letter country code, got "${code}"`);
      return code;
    });
  }
  const upstream = o.upstream === undefined || o.upstream === null || o.upstream === ''
    ? null
    : r.url(join(path, 'upstream'), o.upstream, ['socks5', 'http']);
  const ruleSets = readRuleSets(r, join(path, 'ruleSets'), o.ruleSets);
  const upstreams = readUpstreams(r, join(path, 'upstreams'), o.upstreams);
  const named = new Set(upstreams.map((u) => u.name));
  const rules = readRules(r, join(path, 'rules'), o.rules, new Set(ruleSets.map((s) => s.name)), named);
  const finalAction = o.final === undefined || o.final === null
    ? null
    : readAction(r, join(path, 'final'), o.final, named);
  const final = finalAction === null ? null : finalAction.action;
  if (upstream === null) {
    rules.forEach((rule, i) => {
      if (rule.action === 'upstream' && rule.upstream === null) {
        r.fail(join(join(join(path, 'rules'), i), 'action'), NO_UPSTREAM);
      }
    });
    if (final === 'upstream' && finalAction!.upstream === null) r.fail(join(path, 'final'), NO_UPSTREAM);
  }
  if (upstream === null && routing !== 'direct' && o.upstream === undefined) {
    const expected = 'expected socks5://host:port or http://host:port';
    r.fail(join(path, 'upstream'), `routing "${routing}" sends some destinations upstream: ${expected}`);
  }
  return {
    ...base,
    type: 'proxy',
    routing,
    directCountries,
    upstream,
    ...readTcpTuning(r, path, o),
    handshakeTimeoutMs: r.duration(join(path, 'handshakeTimeout'), o.handshakeTimeout, d.handshakeTimeoutMs),
    allowDestinations: readAllowDestinations(r, join(path, 'allowDestinations'), o.allowDestinations),
    denyPrivate: r.boolean(join(path, 'denyPrivate'), o.denyPrivate, d.denyPrivate),
    allowOpen: r.boolean(join(path, 'allowOpen'), o.allowOpen, d.allowOpen),
    auth: r.oneOf(join(path, 'auth'), o.auth, AUTH_MODES, d.auth),
    rules,
    final,
    ruleSets,
    upstreams,
    finalUpstream: finalAction?.upstream ?? null,
  };
}

const NO_UPSTREAM = '"upstream" needs the service\'s upstream: set upstream to socks5://host:port or http://host:port';

/** `rules`: `{ match: { KIND: value | [values] }, action }`, one kind per match, every value checked here. */
function readRules(
  r: Reader, path: string, value: unknown, setNames: ReadonlySet<string>, upstreams: ReadonlySet<string>,
): ProxyRuleConfig[] {
  return r.list(path, value).map((item, i) => {
    const at = join(path, i);
    const o = r.object(at, item, ['match', 'action']);
    const { action, upstream } = readAction(r, join(at, 'action'), o.action, upstreams);
    const matchPath = join(at, 'match');
    const m = r.object(matchPath, o.match, MATCH_KINDS);
    const kinds = Object.keys(m).filter((k) => (MATCH_KINDS as readonly string[]).includes(k)) as ProxyMatchKind[];
    if (kinds.length !== 1) {
      r.fail(matchPath, `expected exactly one of: ${MATCH_KINDS.join(', ')}`);
      return { match: { kind: 'domain', values: [] }, action, upstream };
    }
    const kind = kinds[0]!;
    const raw = m[kind];
    const kindPath = join(matchPath, kind);
    const items = Array.isArray(raw) ? raw : [raw];
    if (items.length === 0) r.fail(kindPath, 'expected at least one value');
    const values = items.map((v, j) => {
      const vPath = Array.isArray(raw) ? join(kindPath, j) : kindPath;
      const text = typeof v === 'number' && kind === 'port' ? String(v) : r.requiredString(vPath, v).trim();
      const problem = text === '' ? null : checkMatchValue(kind, text, setNames);
      if (problem !== null) r.fail(vPath, problem);
      return kind === 'geoip' ? text.toUpperCase() : text;
    });
    return { match: { kind, values }, action, upstream };
  });
}

/** `direct | reject | upstream`, or `{ upstream: NAME }` naming an entry of the service's `upstreams`. */
function readAction(
  r: Reader, path: string, value: unknown, upstreams: ReadonlySet<string>,
): { action: ProxyRuleAction; upstream: string | null } {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const o = r.object(path, value, ['upstream']);
    const name = r.requiredString(join(path, 'upstream'), o.upstream);
    if (name !== '' && !upstreams.has(name)) {
      r.fail(join(path, 'upstream'), `no upstream named "${name}" (upstreams: ${[...upstreams].join(', ') || 'none'})`);
    }
    return { action: 'upstream', upstream: name };
  }
  if (value === undefined) r.fail(path, `expected one of: ${ACTIONS.join(', ')}, or { upstream: NAME }`);
  return { action: r.oneOf(path, value, ACTIONS, 'direct'), upstream: null };
}

function checkMatchValue(kind: ProxyMatchKind, text: string, setNames: ReadonlySet<string>): string | null {
  switch (kind) {
    case 'ip': {
      const range = parseCidr(text);
      return typeof range === 'string' ? range : null;
    }
    case 'geoip':
      return /^[A-Za-z]{2}$/.test(text) ? null : `expected a two-letter country code, got "${text}"`;
    case 'port': {
      const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
      const lo = m ? Number(m[1]) : 0;
      const hi = m && m[2] !== undefined ? Number(m[2]) : lo;
      return lo >= 1 && hi <= 65535 && lo <= hi ? null : `expected a port 1-65535 or a range "lo-hi", got "${text}"`;
    }
    case 'ruleSet':
      if (setNames.has(text)) return null;
      return `no rule set named "${text}" (ruleSets: ${[...setNames].join(', ') || 'none'})`;
    case 'domainKeyword':
      return null;
    default:
      return /^[A-Za-z0-9_.-]+$/.test(text) ? null : `expected a domain name, got "${text}"`;
  }
}

/** `ruleSets`: `{ name, file, format }`, names unique. */
function readRuleSets(r: Reader, path: string, value: unknown): RuleSetConfig[] {
  const seen = new Set<string>();
  return r.list(path, value).map((item, i) => {
    const at = join(path, i);
    const o = r.object(at, item, ['name', 'file', 'format']);
    const name = r.requiredString(join(at, 'name'), o.name);
    if (name !== '' && seen.has(name)) r.fail(join(at, 'name'), `rule set "${name}" is defined twice`);
    seen.add(name);
    return {
      name,
      file: r.requiredString(join(at, 'file'), o.file),
      format: r.oneOf(join(at, 'format'), o.format, FORMATS, 'auto'),
    };
  });
}

/** `allowDestinations`: `CIDR[:port]` entries, checked here, kept as written. */
function readAllowDestinations(r: Reader, path: string, value: unknown): string[] {
  if (value === undefined || value === null) return [...DEFAULTS.proxy.allowDestinations];
  return r.list(path, value).map((item, i) => {
    const text = r.requiredString(join(path, i), item).trim();
    const range = text ? parseCidrWithPort(text) : null;
    if (typeof range === 'string') r.fail(join(path, i), range);
    return text;
  });
}
