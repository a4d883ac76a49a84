import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { ProxyServiceConfig } from '../../config/schema.js';
import type { GeoResolver } from '../../contracts/geo-resolver.js';
import { LruCache } from '../../util/lru-cache.js';

export interface RouteDecision {
  readonly via: 'direct' | 'upstream';
  /** The address to dial directly (a resolved IP, or the host itself); null when going upstream. */
  readonly address: string | null;
  /** The country that decided it, when geo did. */
  readonly country: string | null;
}

interface CachedName {
  readonly ip: string | null;
  readonly expiresAt: number;
}

const NAME_TTL_MS = 5 * 60_000;
const NAME_CACHE_SIZE = 10_000;

/**
 * Decides direct or upstream per destination. `direct` and `upstream` routing never look anything up. Geo routing
 * resolves names (cached), asks the GeoIP resolver (cached, batched in the pool), and dials directly only for the
 * configured countries; private and loopback addresses with no country go direct, unknown public ones upstream.
 */
export class ProxyRouter {
  private readonly config: ProxyServiceConfig;
  private readonly geo: GeoResolver | null;
  private readonly direct: ReadonlySet<string>;
  private readonly names = new LruCache<CachedName>(NAME_CACHE_SIZE);

  constructor(config: ProxyServiceConfig, geo: GeoResolver | null) {
    this.config = config;
    this.geo = geo;
    this.direct = new Set(config.directCountries);
  }

  get usesGeo(): boolean {
    return this.config.routing !== 'direct' && this.config.routing !== 'upstream';
  }

  async decide(host: string): Promise<RouteDecision> {
    const { routing, upstream } = this.config;
    if (routing === 'direct' || upstream === null) return { via: 'direct', address: host, country: null };
    if (routing === 'upstream' || this.geo === null) return { via: 'upstream', address: null, country: null };
    const ip = isIP(host) ? host : await this.resolve(host);
    if (ip === null) return { via: 'upstream', address: null, country: null };
    const found = this.geo.country(ip);
    const country = typeof found === 'string' || found === null ? found : await found;
    if (country !== null) {
      return this.direct.has(country)
        ? { via: 'direct', address: ip, country }
        : { via: 'upstream', address: null, country };
    }
    return isPrivate(ip)
      ? { via: 'direct', address: ip, country: null }
      : { via: 'upstream', address: null, country: null };
  }

  private async resolve(name: string): Promise<string | null> {
    const cached = this.names.get(name);
    if (cached !== undefined && cached.expiresAt > Date.now()) return cached.ip;
    let ip: string | null;
    try {
      ip = (await lookup(name)).address;
    } catch {
      // Unresolvable here (or poisoned): let the upstream resolve it.
      ip = null;
    }
    this.names.set(name, { ip, expiresAt: Date.now() + NAME_TTL_MS });
    return ip;
  }
}

/** Loopback, RFC 1918, link-local, CGNAT and IPv6 unique-local/link-local addresses. */
export function isPrivate(ip: string): boolean {
  if (isIP(ip) === 4) {
    const [a, b] = ip.split('.').map(Number) as [number, number];
    return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)
      || (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127) || a === 0;
  }
  const lower = ip.toLowerCase();
  if (lower.startsWith('::ffff:')) return isPrivate(lower.slice(7));
  return lower === '::1' || lower === '::' || lower.startsWith('fc') || lower.startsWith('fd')
    || lower.startsWith('fe8') || lower.startsWith('fe9') || lower.startsWith('fea') || lower.startsWith('feb');
}
