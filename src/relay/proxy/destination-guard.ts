import { parseIp, type IpKey } from '../../util/ip.js';
import { type CidrRange, ipv4Key, parseCidr, parseCidrWithPort } from '../../util/cidr.js';
import type { OwnListenerSet } from '../../contracts/own-listeners.js';

/** What a proxy service may dial: the allow-list entries (validated) and whether private ranges are refused too. */
export interface DestinationPolicy {
  readonly allowDestinations: readonly string[];
  readonly denyPrivate: boolean;
}

/** Why a destination is refused; null from `check` means it may be dialled. */
export type DenyReason =
  | 'loopback' | 'unspecified' | 'link-local' | 'multicast' | 'broadcast' | 'private' | 'own listener'
  | 'not an IP address';

interface LabelledRange {
  readonly range: CidrRange;
  readonly reason: DenyReason;
}

function ranges(reason: DenyReason, cidrs: readonly string[]): LabelledRange[] {
  return cidrs.map((cidr) => ({ range: parseCidr(cidr) as CidrRange, reason }));
}

/** Refused unless allowed: addresses that reach this host, its link, or many hosts at once. */
const DENIED_BY_DEFAULT: readonly LabelledRange[] = [
  ...ranges('loopback', ['127.0.0.0/8', '::1']),
  // 0.0.0.0 connects to this host on Linux; the rest of 0/8 is "this network".
  ...ranges('unspecified', ['0.0.0.0/8', '::']),
  ...ranges('link-local', ['169.254.0.0/16', 'fe80::/10']),
  ...ranges('multicast', ['224.0.0.0/4', 'ff00::/8']),
  ...ranges('broadcast', ['255.255.255.255']),
];

/** Refused too with `denyPrivate: true`: RFC 1918, shared address space (CGNAT) and IPv6 unique-local. */
const PRIVATE: readonly LabelledRange[] = ranges(
  'private', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'],
);

/**
 * Decides whether a proxy service may dial an address. Checked on the address actually dialled (after name
 * resolution), so what was checked is what is connected to. Ranges are compiled once per config; a check of an
 * IPv4 literal allocates nothing.
 */
export class DestinationGuard {
  private readonly denied: readonly LabelledRange[];
  private readonly allowed: readonly CidrRange[];
  private readonly own: OwnListenerSet | null;

  constructor(policy: DestinationPolicy, own: OwnListenerSet | null) {
    this.denied = policy.denyPrivate ? [...DENIED_BY_DEFAULT, ...PRIVATE] : DENIED_BY_DEFAULT;
    // Entries were validated with the config; anything unparsable here would be a validator bug, so skip it.
    this.allowed = policy.allowDestinations.map(parseCidrWithPort).filter((r): r is CidrRange => typeof r !== 'string');
    this.own = own;
  }

  /** Null when `ip:port` may be dialled, else why not. `ip` is an IP literal (checked by the caller or resolved). */
  check(ip: string, port: number): DenyReason | null {
    const n = ipv4Key(ip);
    if (n >= 0) return this.checkV4(n, port);
    // Every refused IPv6 range (::, ::1, IPv4-mapped, fc00::/7, fe80::/10, ff00::/8) has a first group of 0 or at
    // least 0xfc00: a global address on a port tidegate does not listen on needs no full parse.
    const first = firstGroup(ip);
    if (first > 0 && first < 0xfc00 && (this.own === null || !this.own.hasPort(port))) return null;
    const key = parseIp(ip);
    if (key === null) return 'not an IP address';
    if (key.v === 4) return this.checkV4(key.n, port);
    return this.checkKey(key, port);
  }

  private checkV4(n: number, port: number): DenyReason | null {
    if (this.own !== null && this.own.hasPort(port) && this.own.has({ v: 4, n }, port)) {
      return this.allowsExactly({ v: 4, n }, port) ? null : 'own listener';
    }
    const denied = this.denied;
    for (let i = 0; i < denied.length; i++) {
      const entry = denied[i]!;
      if (entry.range.containsV4(n)) return this.allowsV4(n, port) ? null : entry.reason;
    }
    return null;
  }

  private checkKey(key: IpKey, port: number): DenyReason | null {
    if (this.own !== null && this.own.hasPort(port) && this.own.has(key, port)) {
      return this.allowsExactly(key, port) ? null : 'own listener';
    }
    for (const entry of this.denied) if (entry.range.contains(key)) return this.allows(key, port) ? null : entry.reason;
    return null;
  }

  private allowsV4(n: number, port: number): boolean {
    const allowed = this.allowed;
    for (let i = 0; i < allowed.length; i++) {
      const range = allowed[i]!;
      if (range.containsV4(n) && (range.port === 0 || range.port === port)) return true;
    }
    return false;
  }

  private allows(key: IpKey, port: number): boolean {
    for (const range of this.allowed) if (range.contains(key) && (range.port === 0 || range.port === port)) return true;
    return false;
  }

  /** tidegate's own listeners open only to an entry that names their port. */
  private allowsExactly(key: IpKey, port: number): boolean {
    for (const range of this.allowed) if (range.port === port && range.contains(key)) return true;
    return false;
  }
}

/** The first group of an IPv6 literal as a number; 0 for a leading "::", -1 when it is not hex. */
function firstGroup(ip: string): number {
  let value = 0;
  for (let i = 0; i < ip.length && i < 5; i++) {
    const c = ip.charCodeAt(i);
    if (c === 58) return value;
    const digit = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (digit < 0 || i === 4) return -1;
    value = value * 16 + digit;
  }
  return -1;
}
