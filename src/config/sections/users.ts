import { DEFAULTS } from '../defaults.js';
import { parseScryptHash } from '../../util/scrypt-hash.js';
import type {
  KeyConfig, KeyHashConfig, PortRange, ProxyLogin, QuotaConfig, TokenBudget, UserConfig,
} from '../types.js';
import { join, type Reader } from '../validator.js';
import { readLimits } from './limits.js';
import { readPortRange } from './port-range.js';
import { readRate } from './rate.js';

/** The keys of a `users[]` item. */
export const USER_KEYS = [
  'id', 'quota', 'rate', 'keys', 'keyHashes', 'enabled', 'expires', 'proxy', 'limits', 'ports',
];
/** The keys of a `users[].keys[]` item written as an object. */
export const KEY_KEYS = ['key', 'name', 'quota', 'limits', 'expires'];
/** The keys of a user's `quota:`. */
export const QUOTA_KEYS = [
  'bytes', 'direction', 'period', 'timezone', 'expires', 'tokens', 'requests', 'cost', 'resetDay',
];

/** `users:`: ids and keys unique across the list, each with an optional quota and rate. */
export function readUsers(r: Reader, value: unknown): UserConfig[] {
  const ids = new Set<string>();
  const keys = new Map<string, string>();
  const hashes = new Set<string>();
  const usernames = new Map<string, string>();
  return r.list('users', value).map((item, i) => {
    const path = join('users', i);
    const o = r.object(path, item, USER_KEYS);
    const id = r.requiredString(join(path, 'id'), o.id);
    if (id && ids.has(id)) r.fail(join(path, 'id'), `duplicate user id "${id}"`);
    ids.add(id);
    const keyConfigs: KeyConfig[] = [];
    const names = new Set<string>();
    const userKeys = r.list(join(path, 'keys'), o.keys).map((k, j) => {
      const at = join(join(path, 'keys'), j);
      const object = k !== null && typeof k === 'object' && !(k instanceof Date);
      const config = object ? readKey(r, at, k, j, names) : null;
      const key = config === null ? r.requiredString(at, k) : config.key;
      const owner = keys.get(key);
      if (key && owner !== undefined) r.fail(object ? join(at, 'key') : at, `key is already used by user "${owner}"`);
      keys.set(key, id);
      if (config !== null) keyConfigs.push(config);
      return key;
    });
    const quota = readQuota(r, join(path, 'quota'), o.quota);
    const proxy = readProxyLogin(r, join(path, 'proxy'), o.proxy);
    if (proxy !== null && proxy.username) {
      const owner = usernames.get(proxy.username);
      const at = join(join(path, 'proxy'), 'username');
      if (owner !== undefined) r.fail(at, `username is already used by user "${owner}"`);
      usernames.set(proxy.username, id);
    }
    const limits = readLimits(r, join(path, 'limits'), o.limits);
    return {
      id,
      quota,
      rate: readRate(r, join(path, 'rate'), o.rate),
      limits,
      keys: userKeys,
      keyConfigs,
      keyHashes: readKeyHashes(r, join(path, 'keyHashes'), o.keyHashes, hashes),
      enabled: r.boolean(join(path, 'enabled'), o.enabled, DEFAULTS.user.enabled),
      expiresAt: readDate(r, join(path, 'expires'), o.expires, DEFAULTS.user.expiresAt),
      proxy,
      ports: readUserPorts(r, join(path, 'ports'), o.ports),
    };
  });
}

/** A key written as `{ key, name, quota, limits, expires }`; `name` defaults to `key#<index>`. */
function readKey(r: Reader, path: string, value: unknown, index: number, names: Set<string>): KeyConfig {
  const o = r.object(path, value, KEY_KEYS);
  const key = r.requiredString(join(path, 'key'), o.key);
  const name = r.string(join(path, 'name'), o.name, `key#${index}`);
  if (names.has(name)) r.fail(join(path, 'name'), `duplicate key name "${name}"`);
  names.add(name);
  return {
    key,
    name,
    quota: readQuota(r, join(path, 'quota'), o.quota),
    limits: readLimits(r, join(path, 'limits'), o.limits),
    expiresAt: readDate(r, join(path, 'expires'), o.expires, null),
  };
}

/** A user's `ports: "30000-30099"`; null when absent. */
function readUserPorts(r: Reader, path: string, value: unknown): PortRange | null {
  if (value === undefined || value === null) return null;
  const text = r.string(path, value, null);
  return text === null ? null : readPortRange(r, path, text);
}

/** Logins travel in SOCKS5 (1-255 bytes each) and Basic (no ":" in the username): no control characters. */
function isLoginText(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return text.length > 0;
}

/** A user's `proxy:` login; null when absent. Never echoes a password in a message. */
function readProxyLogin(r: Reader, path: string, value: unknown): ProxyLogin | null {
  if (value === undefined || value === null) return null;
  const o = r.object(path, value, ['username', 'password', 'passwordHash']);
  const username = r.requiredString(join(path, 'username'), o.username);
  if (username && (!isLoginText(username) || username.includes(':') || Buffer.byteLength(username) > 255)) {
    r.fail(join(path, 'username'), 'expected 1-255 bytes without ":" or control characters');
  }
  const password = o.password === undefined || o.password === null ? null : o.password;
  const hash = o.passwordHash === undefined || o.passwordHash === null ? null : o.passwordHash;
  if (password !== null && hash !== null) r.fail(path, 'expected password or passwordHash, not both');
  if (password === null && hash === null) {
    r.fail(join(path, 'password'), 'expected a password (or a passwordHash), got nothing');
  }
  if (password !== null && (typeof password !== 'string' || password === '')) {
    const got = typeof password === 'string' ? 'an empty one' : typeof password;
    r.fail(join(path, 'password'), `expected a non-empty string, got ${got}`);
  } else if (typeof password === 'string' && (!isLoginText(password) || Buffer.byteLength(password) > 255)) {
    r.fail(join(path, 'password'), 'expected 1-255 bytes without control characters');
  }
  if (hash !== null) {
    const parsed = typeof hash === 'string' ? parseScryptHash(hash) : 'expected a string like scrypt$N$r$p$salt$hash';
    if (typeof parsed === 'string') r.fail(join(path, 'passwordHash'), parsed);
  }
  return {
    username,
    password: typeof password === 'string' ? password : null,
    passwordHash: typeof hash === 'string' ? hash : null,
  };
}

/** Zones found valid: building a formatter costs ~60 µs, paid once per zone rather than once per user. */
const validZones = new Set<string>();

function knownTimeZone(zone: string): boolean {
  if (validZones.has(zone)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    return false;
  }
  validZones.add(zone);
  return true;
}

/** A user's `quota:`; null when absent. */
function readQuota(r: Reader, path: string, value: unknown): QuotaConfig | null {
  if (value === undefined || value === null) return null;
  const o = r.object(path, value, QUOTA_KEYS);
  const d = DEFAULTS.quota;
  const spend = o.tokens !== undefined || o.requests !== undefined || o.cost !== undefined;
  if (o.bytes === undefined && !spend) {
    r.fail(join(path, 'bytes'), 'expected a size like 100GiB (or tokens, requests or cost), got nothing');
  }
  const cost = readCost(r, join(path, 'cost'), o.cost);
  const timezone = r.string(join(path, 'timezone'), o.timezone, d.timezone);
  if (!knownTimeZone(timezone)) {
    r.fail(join(path, 'timezone'), `expected an IANA time zone like "UTC" or "Asia/Shanghai", got "${timezone}"`);
  }
  const expiresAt = readDate(r, join(path, 'expires'), o.expires, d.expiresAt);
  return {
    bytes: o.bytes === undefined && spend ? Infinity : r.size(join(path, 'bytes'), o.bytes, 0),
    tokens: readTokenBudget(r, join(path, 'tokens'), o.tokens),
    requests: o.requests === undefined ? null : r.integer(join(path, 'requests'), o.requests, 1, 1),
    costMicros: cost === null ? null : cost.micros,
    costCurrency: cost === null ? null : cost.currency,
    resetDay: r.integer(join(path, 'resetDay'), o.resetDay, d.resetDay, 1, 28),
    direction: r.oneOf(join(path, 'direction'), o.direction, ['total', 'in', 'out'] as const, d.direction),
    period: r.oneOf(join(path, 'period'), o.period, ['none', 'daily', 'monthly'] as const, d.period),
    timezone,
    expiresAt,
  };
}

const TOKEN_CLASSES = ['total', 'input', 'cacheRead', 'cacheWrite', 'output', 'reasoning'] as const;

/** `tokens: 100000` (all classes) or `tokens: { total, input, cacheRead, cacheWrite, output, reasoning }`. */
function readTokenBudget(r: Reader, path: string, value: unknown): TokenBudget | null {
  if (value === undefined || value === null) return null;
  const none: Record<(typeof TOKEN_CLASSES)[number], number | null> = {
    total: null, input: null, cacheRead: null, cacheWrite: null, output: null, reasoning: null,
  };
  if (typeof value === 'number') return { ...none, total: r.integer(path, value, 1, 1) };
  const o = r.object(path, value, TOKEN_CLASSES);
  for (const c of TOKEN_CLASSES) if (o[c] !== undefined) none[c] = r.integer(join(path, c), o[c], 1, 1);
  return none;
}

/** `cost: 50USD` (or `12.5 EUR`): micro-units and the currency. */
function readCost(r: Reader, path: string, value: unknown): { micros: number; currency: string } | null {
  if (value === undefined || value === null) return null;
  const m = typeof value === 'string' ? /^(\d+(?:\.\d+)?)\s*([A-Z]{3})$/.exec(value.trim()) : null;
  if (m === null || Number(m[1]) <= 0) {
    r.fail(path, `expected an amount and a currency like 50USD, got ${JSON.stringify(value)}`);
    return null;
  }
  return { micros: Math.round(Number(m[1]) * 1e6), currency: m[2]! };
}

/** A date (YAML date, ISO text) as epoch ms; `fallback` when absent. */
function readDate(r: Reader, path: string, value: unknown, fallback: number | null): number | null {
  if (value === undefined || value === null) return fallback;
  const t = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : NaN;
  if (!Number.isNaN(t)) return t;
  r.fail(path, `expected a date like 2026-12-31 or an ISO timestamp, got ${JSON.stringify(value)}`);
  return fallback;
}

const SHA256_RE = /^[0-9a-f]{64}$/;
const KEY_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** `keyHashes:` (written by the admin API): ids unique per user, hashes unique across users. */
function readKeyHashes(r: Reader, path: string, value: unknown, seen: Set<string>): KeyHashConfig[] {
  const ids = new Set<string>();
  return r.list(path, value).map((item, i) => {
    const p = join(path, i);
    const o = r.object(p, item, ['id', 'sha256']);
    const id = r.requiredString(join(p, 'id'), o.id);
    if (id && !KEY_ID_RE.test(id)) r.fail(join(p, 'id'), `expected letters, digits, "_" or "-", got "${id}"`);
    if (ids.has(id)) r.fail(join(p, 'id'), `duplicate key id "${id}"`);
    ids.add(id);
    const sha256 = r.requiredString(join(p, 'sha256'), o.sha256);
    if (sha256 && !SHA256_RE.test(sha256)) r.fail(join(p, 'sha256'), 'expected 64 lowercase hex digits');
    if (seen.has(sha256)) r.fail(join(p, 'sha256'), 'key hash is already used');
    seen.add(sha256);
    return { id, sha256 };
  });
}
