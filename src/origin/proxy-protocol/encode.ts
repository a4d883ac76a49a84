import { isIPv4, isIPv6 } from 'node:net';
import { V2_SIGNATURE } from './parse.js';

/**
 * The PROXY protocol header tidegate sends a target ahead of the client's bytes: the client's address and the one
 * it reached. Addresses Node gives (IPv4, IPv6, 4-in-6) only; a pair of different families is sent as such a pair
 * would be by HAProxy: both as IPv6 (v2) or TCP6 (v1).
 */
export function encodeProxyHeader(
  version: 'v1' | 'v2', srcAddress: string, srcPort: number, dstAddress: string, dstPort: number,
): Buffer {
  if (version === 'v2') {
    // Once per connection on a forward service with `proxyProtocol: v2`: IPv4 pairs (the common case) are written
    // straight into the header, without the string checks and splits of the general path.
    const out = Buffer.allocUnsafe(28);
    if (quadInto(out, 16, srcAddress) && quadInto(out, 20, dstAddress)) {
      V2_SIGNATURE.copy(out, 0);
      out[12] = 0x21;
      out[13] = 0x11;
      out[14] = 0;
      out[15] = 12;
      out.writeUInt16BE(srcPort, 24);
      out.writeUInt16BE(dstPort, 26);
      return out;
    }
  }
  let src = unmapped(srcAddress);
  let dst = unmapped(dstAddress);
  const v4 = isIPv4(src) && isIPv4(dst);
  if (!v4) {
    src = isIPv4(src) ? `::ffff:${src}` : src;
    dst = isIPv4(dst) ? `::ffff:${dst}` : dst;
    if (!isIPv6(src) || !isIPv6(dst)) return version === 'v1' ? Buffer.from('PROXY UNKNOWN\r\n') : localV2();
  }
  if (version === 'v1') {
    return Buffer.from(`PROXY ${v4 ? 'TCP4' : 'TCP6'} ${src} ${dst} ${srcPort} ${dstPort}\r\n`, 'latin1');
  }
  const body = v4 ? 12 : 36;
  const out = Buffer.allocUnsafe(16 + body);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x21; // version 2, PROXY
  out[13] = v4 ? 0x11 : 0x21; // TCP over IPv4 / IPv6
  out.writeUInt16BE(body, 14);
  if (v4) {
    writeV4(out, 16, src);
    writeV4(out, 20, dst);
    out.writeUInt16BE(srcPort, 24);
    out.writeUInt16BE(dstPort, 26);
  } else {
    writeV6(out, 16, src);
    writeV6(out, 32, dst);
    out.writeUInt16BE(srcPort, 48);
    out.writeUInt16BE(dstPort, 50);
  }
  return out;
}

/** `::ffff:a.b.c.d` (a v4 client on a dual-stack listener) as plain IPv4. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

const MAPPED_PREFIX = '::ffff:';

/**
 * Writes a dotted quad (also as `::ffff:a.b.c.d`) as 4 bytes at `at`; false, with the bytes undefined, when `text`
 * is anything else.
 */
function quadInto(out: Buffer, at: number, text: string): boolean {
  let i = text.startsWith(MAPPED_PREFIX) ? MAPPED_PREFIX.length : 0;
  const end = text.length;
  for (let part = 0; part < 4; part++) {
    let value = 0;
    let digits = 0;
    while (i < end) {
      const c = text.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      value = value * 10 + (c - 0x30);
      if (++digits > 3) return false;
      i++;
    }
    if (digits === 0 || value > 255 || (digits > 1 && text.charCodeAt(i - digits) === 0x30)) return false;
    out[at + part] = value;
    if (part < 3) {
      if (text.charCodeAt(i) !== 0x2e) return false;
      i++;
    }
  }
  return i === end;
}

function localV2(): Buffer {
  const out = Buffer.alloc(16);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x20;
  return out;
}

function writeV4(out: Buffer, at: number, ip: string): void {
  const parts = ip.split('.');
  for (let i = 0; i < 4; i++) out[at + i] = Number(parts[i]);
}

function writeV6(out: Buffer, at: number, ip: string): void {
  let text = ip;
  const dotted = text.lastIndexOf(':');
  const tail = text.slice(dotted + 1);
  if (isIPv4(tail)) {
    // Trailing dotted quad: as two groups.
    const p = tail.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted + 1)}${((p[0] << 8) | p[1]).toString(16)}:${((p[2] << 8) | p[3]).toString(16)}`;
  }
  const halves = text.split('::');
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const rest = halves.length > 1 && halves[1] !== '' ? halves[1]!.split(':') : [];
  const groups = [...head, ...new Array<string>(8 - head.length - rest.length).fill('0'), ...rest];
  for (let i = 0; i < 8; i++) out.writeUInt16BE(parseInt(groups[i]!, 16), at + 2 * i);
}
