import { isIPv4 } from 'node:net';
import { ipv4ToNumber, ipv6PrefixEnd, ipv6PrefixStart, parseIp, type IpKey } from './ip.js';

/**
 * An address range with an optional port, precompiled for matching: IPv4 as unsigned numbers, IPv6 as fixed-width
 * hex (string order is numeric order). Every range has all fields (stable shape); `port` 0 means every port.
 */
export class CidrRange {
  readonly v: 4 | 6;
  readonly lo: number;
  readonly hi: number;
  readonly loHex: string;
  readonly hiHex: string;
  readonly port: number;

  constructor(v: 4 | 6, lo: number, hi: number, loHex: string, hiHex: string, port: number) {
    this.v = v;
    this.lo = lo;
    this.hi = hi;
    this.loHex = loHex;
    this.hiHex = hiHex;
    this.port = port;
  }

  /** True when the address is inside (the port is not looked at). */
  contains(key: IpKey): boolean {
    if (key.v === 4) return this.v === 4 && key.n >= this.lo && key.n <= this.hi;
    return this.v === 6 && key.hex >= this.loHex && key.hex <= this.hiHex;
  }

  containsV4(n: number): boolean {
    return this.v === 4 && n >= this.lo && n <= this.hi;
  }
}

/** `a.b.c.d/n` or `v6/n` (a bare address is one host) → the range; a string says what is wrong. */
export function parseCidr(text: string, port = 0): CidrRange | string {
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const key = parseIp(addressText);
  if (key === null) return `expected an IP address or CIDR, got "${text}"`;
  // An IPv4-mapped IPv6 prefix (::ffff:a.b.c.d/n) counts its length over 128 bits; parseIp made it IPv4.
  const mapped = key.v === 4 && !isIPv4(addressText);
  const max = key.v === 4 && !mapped ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const prefixText = text.slice(slash + 1);
    prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : -1;
    if (prefix < 0 || prefix > max) return `expected a prefix length 0-${max} after "/", got "${text}"`;
  }
  if (mapped) {
    if (prefix < 96) return `expected a prefix of at least /96 for an IPv4-mapped address, got "${text}"`;
    prefix -= 96;
  }
  if (key.v === 4) {
    const size = 2 ** (32 - prefix);
    const lo = Math.floor(key.n / size) * size;
    return new CidrRange(4, lo, lo + size - 1, '', '', port);
  }
  const loHex = ipv6PrefixStart(key.hex, prefix);
  return new CidrRange(6, 0, 0, loHex, ipv6PrefixEnd(loHex, prefix), port);
}

/**
 * An allow-list entry: `CIDR`, `CIDR:port`, `[v6 CIDR]:port` or a bare IPv6 CIDR (`fd00::/8`, any port). Returns
 * an error message instead of throwing, so the config validator can attach the path.
 */
export function parseCidrWithPort(text: string): CidrRange | string {
  let cidr = text;
  let portText: string | null = null;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) return `expected [IPv6 CIDR]:port, got "${text}"`;
    cidr = text.slice(1, end);
    const rest = text.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return `expected [IPv6 CIDR]:port, got "${text}"`;
      portText = rest.slice(1);
    }
    if (!cidr.includes(':')) return `expected an IPv6 address in brackets, got "${text}"`;
  } else {
    const colon = text.indexOf(':');
    // More than one colon: an IPv6 CIDR without a port.
    if (colon >= 0 && text.indexOf(':', colon + 1) < 0) {
      cidr = text.slice(0, colon);
      portText = text.slice(colon + 1);
    }
  }
  let port = 0;
  if (portText !== null) {
    port = /^[1-9]\d{0,4}$/.test(portText) ? Number(portText) : 0;
    if (port < 1 || port > 65535) return `expected a port 1-65535 after the colon, got "${text}"`;
  }
  return parseCidr(cidr, port);
}

/** The numeric form of an IPv4 literal, or -1; the guard's allocation-free fast path. */
export function ipv4Key(ip: string): number {
  return isIPv4(ip) ? ipv4ToNumber(ip) : -1;
}
