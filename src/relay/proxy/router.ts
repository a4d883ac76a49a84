import { isIP } from 'node:net';
import type { ProxyRuleAction, ProxyRuleConfig, ProxyServiceConfig } from '../../config/schema.js';
import type { GeoResolver } from '../../contracts/geo-resolver.js';
import { parseIp } from '../../util/ip.js';
import type { NameResolver } from '../resolver/name-resolver.js';
import { resolverOf } from '../resolver/shared-resolver.js';
import { normalizeName } from './rules/domain-set.js';
import type { RuleSetData } from './rules/rule-set-file.js';
import { NEEDS_ADDRESS, NEEDS_COUNTRY, NO_MATCH, RouteQuery, RuleTable } from './rules/rule-table.js';

export interface RouteDecision {
  readonly via: ProxyRuleAction;
  /** The address to dial directly (a resolved IP, or the host itself); null when going upstream. */
  readonly address: string | null;
  /** The country that decided it, when geo did. */
  readonly country: string | null;
  /** The index of the rule that decided (`rules[]` first, then the preset's), or -1 for `final`. */
  readonly rule: number;
  /** Going upstream: the named upstream or group, or null for the service's `upstream`. */
  readonly upstream: string | null;
}

/** Loopback, RFC 1918, link-local, CGNAT, 0/8 and IPv6 loopback/unspecified/unique-local/link-local. */
export const PRIVATE_RANGES = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16',
  '::1/128', '::/128', 'fc00::/7', 'fe80::/10',
] as const;

/**
 * The rules a routing preset stands for, after the service's own `rules`, and its final action. Geo presets
 * (`bypass_cn`, a `direct:` country list): listed countries direct, other known countries upstream, private and
 * loopback addresses with no country direct, the rest (unknown or unresolvable) upstream.
 */
export function presetRules(config: ProxyServiceConfig): { rules: ProxyRuleConfig[]; final: ProxyRuleAction } {
  const { routing, upstream } = config;
  if (routing === 'direct' || upstream === null) return { rules: [], final: 'direct' };
  if (routing === 'upstream') return { rules: [], final: 'upstream' };
  const rules: ProxyRuleConfig[] = [];
  if (config.directCountries.length > 0) {
    rules.push({ match: { kind: 'geoip', values: config.directCountries }, action: 'direct' });
  }
  rules.push({ match: { kind: 'geoip', values: ['*'] }, action: 'upstream' });
  rules.push({ match: { kind: 'ip', values: PRIVATE_RANGES }, action: 'direct' });
  return { rules, final: 'upstream' };
}

/**
 * Decides direct, upstream or reject per destination by the service's rules (first match wins), then its routing
 * preset's rules, then `final`. Names are resolved (cached) only when an address or country rule is reached;
 * countries come from the GeoIP resolver (cached, batched in the pool).
 */
export class ProxyRouter {
  private readonly geo: GeoResolver | null;
  private readonly resolver: NameResolver;
  private readonly table: RuleTable;
  private readonly rules: readonly ProxyRuleConfig[];
  private readonly final: ProxyRuleAction;
  private readonly finalUpstream: string | null;

  constructor(
    config: ProxyServiceConfig, geo: GeoResolver | null, sets: ReadonlyMap<string, RuleSetData> = new Map(),
    resolver: NameResolver = resolverOf(null),
  ) {
    this.geo = geo;
    this.resolver = resolver;
    const preset = presetRules(config);
    this.rules = [...config.rules, ...preset.rules];
    this.final = config.final ?? preset.final;
    this.finalUpstream = config.final === null ? null : config.finalUpstream;
    this.table = new RuleTable(this.rules, sets);
  }

  get usesGeo(): boolean {
    return this.table.usesCountries;
  }

  /** A router with the same rules over newly loaded rule sets, resolving with `resolver`. */
  withSets(
    config: ProxyServiceConfig, geo: GeoResolver | null, sets: ReadonlyMap<string, RuleSetData>,
    resolver: NameResolver = this.resolver,
  ): ProxyRouter {
    return new ProxyRouter(config, geo, sets, resolver);
  }

  async decide(host: string, port = 0): Promise<RouteDecision> {
    const literal = isIP(host) !== 0;
    const q = new RouteQuery(literal ? null : normalizeName(host), port, literal ? host : null,
      literal ? parseIp(host) : null);
    const table = this.table;
    let rule = table.evaluate(q);
    while (rule === NEEDS_ADDRESS || rule === NEEDS_COUNTRY) {
      if (rule === NEEDS_ADDRESS) {
        q.ip = await this.resolve(q.name!);
        q.key = q.ip === null ? null : parseIp(q.ip);
        q.resolved = true;
      } else {
        const geo = this.geo;
        const found = geo === null ? null : geo.country(q.ip!);
        q.country = typeof found === 'string' || found === null ? found : await found;
        q.countryKnown = true;
      }
      rule = table.evaluate(q);
    }
    const via = rule === NO_MATCH ? this.final : table.actions[rule]!;
    const upstream = via !== 'upstream' ? null
      : rule === NO_MATCH ? this.finalUpstream : this.rules[rule]!.upstream ?? null;
    return { via, address: via === 'direct' ? q.ip ?? host : null, country: q.country, rule, upstream };
  }

  /** The name's first address (cached by the resolver for its TTL), or null. */
  private async resolve(name: string): Promise<string | null> {
    try {
      return (await this.resolver.resolve(name))[0] ?? null;
    } catch {
      // Unresolvable here (or poisoned): let the upstream resolve it.
      return null;
    }
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
