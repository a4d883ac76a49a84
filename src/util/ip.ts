import { isIPv4, isIPv6 } from 'node:net';

/**
 * Addresses as sortable keys: IPv4 as an unsigned 32-bit number, IPv6 as 32 lowercase hex digits (fixed width,
 * so string order is numeric order). IPv4-mapped IPv6 (`::ffff:1.2.3.4`) is treated as IPv4.
 */
export type IpKey = { readonly v: 4; readonly n: number } | { readonly v: 6; readonly hex: string };

export function ipv4ToNumber(ip: string): number {
  let n = 0;
  let part = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) { n = n * 256 + part; part = 0; } else part = part * 10 + (c - 48);
  }
  return n * 256 + part;
}

export function numberToIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function ipv6ToHex(ip: string): string {
  let s = ip;
  const zone = s.indexOf('%');
  if (zone !== -1) s = s.slice(0, zone);
  // A trailing dotted quad becomes two hex groups.
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const n = ipv4ToNumber(tail);
    s = `${s.slice(0, lastColon + 1)}${((n >>> 16) & 0xffff).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const dbl = s.indexOf('::');
  let groups: string[];
  if (dbl === -1) groups = s.split(':');
  else {
    const head = s.slice(0, dbl) ? s.slice(0, dbl).split(':') : [];
    const rest = s.slice(dbl + 2) ? s.slice(dbl + 2).split(':') : [];
    groups = head.concat(new Array<string>(8 - head.length - rest.length).fill('0'), rest);
  }
  let hex = '';
  for (const g of groups) hex += g.padStart(4, '0');
  return hex.toLowerCase();
}

const V4_MAPPED_PREFIX = '00000000000000000000ffff';

/** Parses an address; null when it is not an IP literal. */
export function parseIp(ip: string): IpKey | null {
  if (isIPv4(ip)) return { v: 4, n: ipv4ToNumber(ip) };
  if (!isIPv6(ip)) return null;
  const hex = ipv6ToHex(ip);
  if (hex.startsWith(V4_MAPPED_PREFIX)) return { v: 4, n: parseInt(hex.slice(24), 16) };
  return { v: 6, hex };
}

/** Last address of an IPv6 prefix, as hex. */
export function ipv6PrefixEnd(startHex: string, prefix: number): string {
  let out = '';
  for (let i = 0; i < 32; i++) {
    const bitsBefore = i * 4;
    const nibble = parseInt(startHex[i]!, 16);
    if (bitsBefore >= prefix) out += 'f';
    else if (bitsBefore + 4 <= prefix) out += startHex[i];
    else {
      const keep = prefix - bitsBefore;
      const mask = (0xf >> keep) & 0xf;
      out += (nibble | mask).toString(16);
    }
  }
  return out;
}

/** First address of an IPv6 prefix (host bits cleared), as hex. */
export function ipv6PrefixStart(hex: string, prefix: number): string {
  let out = '';
  for (let i = 0; i < 32; i++) {
    const bitsBefore = i * 4;
    const nibble = parseInt(hex[i]!, 16);
    if (bitsBefore >= prefix) out += '0';
    else if (bitsBefore + 4 <= prefix) out += hex[i];
    else {
      const keep = prefix - bitsBefore;
      out += (nibble & ((0xf << (4 - keep)) & 0xf)).toString(16);
    }
  }
  return out;
}
