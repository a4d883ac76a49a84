import { isIP } from 'node:net';
import { DEFAULTS } from '../defaults.js';
import type { ResolverConfig } from '../types.js';
import { join, type Reader } from '../validator.js';

const KEYS = ['servers', 'minTtl', 'maxTtl', 'negativeTtl', 'cacheSize', 'hostsFile'];

/** `resolver:`: DNS servers, the TTL clamps, negative caching, the cache size and the hosts file. */
export function readResolver(r: Reader, value: unknown): ResolverConfig {
  const o = r.object('resolver', value, KEYS);
  const d = DEFAULTS.resolver;
  const servers = r.list('resolver.servers', o.servers).map((item, i) => {
    const path = join('resolver.servers', i);
    if (typeof item !== 'string' || !isServer(item)) {
      r.fail(path, `expected an IP address, "ip:port" or "[ipv6]:port", got ${JSON.stringify(item)}`);
      return '';
    }
    return item;
  });
  const minTtlMs = r.duration('resolver.minTtl', o.minTtl, d.minTtlMs);
  const maxTtlMs = r.duration('resolver.maxTtl', o.maxTtl, d.maxTtlMs);
  if (maxTtlMs < minTtlMs) r.fail('resolver.maxTtl', `must be at least resolver.minTtl (${minTtlMs} ms)`);
  return {
    servers,
    minTtlMs,
    maxTtlMs,
    negativeTtlMs: r.duration('resolver.negativeTtl', o.negativeTtl, d.negativeTtlMs),
    cacheSize: r.integer('resolver.cacheSize', o.cacheSize, d.cacheSize, 0, 10_000_000),
    hostsFile: o.hostsFile === null ? null : r.string('resolver.hostsFile', o.hostsFile, d.hostsFile ?? '/etc/hosts'),
  };
}

/** What c-ares' setServers takes: "ip", "ip:port", "[ipv6]" or "[ipv6]:port". */
function isServer(s: string): boolean {
  if (isIP(s) !== 0) return true;
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(s);
  if (bracketed) return isIP(bracketed[1]!) === 6 && (bracketed[2] === undefined || validPort(bracketed[2]));
  const v4 = /^([\d.]+):(\d{1,5})$/.exec(s);
  return v4 !== null && isIP(v4[1]!) === 4 && validPort(v4[2]!);
}

function validPort(p: string): boolean {
  const n = Number(p);
  return n >= 1 && n <= 65535;
}
