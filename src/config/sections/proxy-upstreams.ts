import { DEFAULTS } from '../defaults.js';
import type { HealthCheckConfig, ProxyUpstreamConfig, UpstreamGroupStrategy } from '../types.js';
import { join, type Reader } from '../validator.js';

const STRATEGIES: readonly UpstreamGroupStrategy[] = ['failover', 'round-robin'];

/**
 * A proxy service's `upstreams`: `{ name, url, check? }` (socks5:// or http://, credentials in the URL) or
 * `{ name, group: [names], strategy? }`; names unique, a group's members must be listed proxies (no nesting).
 */
export function readUpstreams(r: Reader, path: string, value: unknown): ProxyUpstreamConfig[] {
  const seen = new Set<string>();
  const out: ProxyUpstreamConfig[] = [];
  r.list(path, value).forEach((item, i) => {
    const at = join(path, i);
    const o = r.object(at, item, ['name', 'url', 'check', 'group', 'strategy']);
    const name = r.requiredString(join(at, 'name'), o.name);
    if (name !== '' && seen.has(name)) r.fail(join(at, 'name'), `upstream "${name}" is defined twice`);
    seen.add(name);
    if ((o.url === undefined) === (o.group === undefined)) {
      r.fail(at, 'expected exactly one of: url (an upstream proxy), group (a list of upstream names)');
      return;
    }
    if (o.url !== undefined) {
      const url = r.url(join(at, 'url'), o.url, ['socks5', 'http']);
      if (url !== null) out.push({ kind: 'proxy', name, url, check: readCheck(r, join(at, 'check'), o.check) });
      return;
    }
    const members = r.list(join(at, 'group'), o.group).map((m, j) => r.requiredString(join(join(at, 'group'), j), m));
    if (members.length === 0) r.fail(join(at, 'group'), 'expected at least one upstream name');
    const strategy = r.oneOf(join(at, 'strategy'), o.strategy, STRATEGIES, DEFAULTS.upstream.strategy);
    out.push({ kind: 'group', name, members, strategy });
  });
  const proxies = new Set(out.filter((u) => u.kind === 'proxy').map((u) => u.name));
  out.forEach((u, i) => {
    if (u.kind !== 'group') return;
    u.members.forEach((m, j) => {
      if (!proxies.has(m)) {
        r.fail(join(join(join(path, i), 'group'), j), `expected the name of an upstream with a url, got "${m}"`);
      }
    });
  });
  return out;
}

/** `check: { interval, timeout, rise, fall }` or `check: false` (no probes: traffic alone marks it down and up). */
function readCheck(r: Reader, path: string, value: unknown): HealthCheckConfig {
  const d = DEFAULTS.upstream.check;
  if (value === false) return { ...d, intervalMs: 0 };
  if (value === undefined || value === null) return { ...d };
  const o = r.object(path, value, ['interval', 'timeout', 'rise', 'fall']);
  return {
    intervalMs: r.duration(join(path, 'interval'), o.interval, d.intervalMs),
    timeoutMs: r.duration(join(path, 'timeout'), o.timeout, d.timeoutMs),
    rise: r.integer(join(path, 'rise'), o.rise, d.rise, 1, 100),
    fall: r.integer(join(path, 'fall'), o.fall, d.fall, 1, 100),
  };
}
