import { isIP } from 'node:net';
import { DestinationDeniedError } from '../../errors.js';
import { formatHostPort } from '../../util/address.js';
import type { NameResolver } from '../resolver/name-resolver.js';
import type { DenyReason, DestinationGuard } from './destination-guard.js';
import type { ProxyRouter } from './router.js';
import type { Destination } from './socks5.js';
import type { UpstreamRoute } from './upstreams/upstream-proxy.js';
import type { UpstreamSet } from './upstreams/upstream-set.js';

/** Where a destination goes once routed and checked: `dialHost` is the checked address (direct) or the name. */
export interface Routed {
  readonly via: 'direct' | 'upstream';
  readonly dialHost: string;
  /** Direct to a name: every checked address of it (happy eyeballs dials them); else null. */
  readonly addresses: readonly string[] | null;
  /** The name `addresses` belong to, or null. */
  readonly name: string | null;
  /** Upstream: the proxy or group to go through. */
  readonly upstream: UpstreamRoute | null;
}

/** What routing reads from its proxy service. */
export interface RouteHost {
  readonly resolver: NameResolver;
  readonly upstreams: UpstreamSet;
  ruleRejected(): void;
}

/**
 * Direct or upstream, and checked: a direct name is resolved here and every address checked (the checked address is
 * the one dialled); through an upstream a literal address is still checked and a name is the upstream's to resolve.
 */
export async function routeDestination(
  router: ProxyRouter, guard: DestinationGuard, dest: Destination, host: RouteHost,
): Promise<Routed> {
  const route = await router.decide(dest.host, dest.port);
  if (route.via === 'reject') {
    host.ruleRejected();
    throw new DestinationDeniedError(`${formatHostPort(dest)} is refused by the proxy's routing rules`);
  }
  if (route.via === 'direct') {
    const name = route.address ?? dest.host;
    if (isIP(name) === 0) {
      const addresses = await resolveChecked(host.resolver, guard, name, dest.port);
      return { via: 'direct', dialHost: addresses[0]!, addresses, name, upstream: null };
    }
    checkDestination(guard, name, dest.port);
    return { via: 'direct', dialHost: name, addresses: null, name: null, upstream: null };
  }
  if (isIP(dest.host) !== 0) checkDestination(guard, dest.host, dest.port);
  const upstream = host.upstreams.route(route.upstream);
  // The config reader makes sure every upstream action has somewhere to go.
  if (upstream === null) throw new Error(`no upstream "${route.upstream ?? 'upstream'}" in the service's config`);
  return { via: 'upstream', dialHost: dest.host, addresses: null, name: null, upstream };
}

/** Refuses `ip:port` with DestinationDeniedError when the guard says no. */
function checkDestination(guard: DestinationGuard, ip: string, port: number, name?: string): void {
  const reason = guard.check(ip, port);
  if (reason !== null) throw deniedError(reason, ip, port, name);
}

/** Resolves a name and checks every address it has (one refused address refuses the name). */
async function resolveChecked(
  resolver: NameResolver, guard: DestinationGuard, name: string, port: number,
): Promise<readonly string[]> {
  const addresses = await resolver.resolve(name);
  for (const address of addresses) checkDestination(guard, address, port, name);
  if (addresses.length === 0) throw Object.assign(new Error(`${name} has no address`), { code: 'ENOTFOUND' });
  return addresses;
}

function deniedError(reason: DenyReason, ip: string, port: number, name?: string): DestinationDeniedError {
  const target = formatHostPort({ host: ip, port });
  const what = name === undefined ? target : `${name}:${port} (${target})`;
  const entry = ip.includes(':') ? `[${ip}]:${port}` : `${ip}/32:${port}`;
  if (reason === 'own listener') {
    return new DestinationDeniedError(
      `${what} is one of tidegate's own listeners; only an allowDestinations entry with its port opens it,`
        + ` e.g. "${entry}"`,
    );
  }
  return new DestinationDeniedError(`${what} is refused (${reason}) unless allowDestinations lists it`);
}
