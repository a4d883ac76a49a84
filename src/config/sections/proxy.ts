import { parseCidrWithPort } from '../../util/cidr.js';
import { DEFAULTS } from '../defaults.js';
import type { ProxyServiceConfig } from '../types.js';
import { join, type Reader } from '../validator.js';
import { BASE_KEYS, readBase, readTcpTuning, TCP_KEYS } from './service-base.js';

/** Countries that `bypass_cn` dials directly. */
export const BYPASS_CN_COUNTRIES = ['CN'] as const;

const ROUTINGS = ['direct', 'upstream', 'bypass_cn'] as const;
const PROXY_KEYS = [
  'routing', 'direct', 'upstream', 'handshakeTimeout', 'allowDestinations', 'denyPrivate', 'allowOpen', 'auth',
];
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
  };
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
