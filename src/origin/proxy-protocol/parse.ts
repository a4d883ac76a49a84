import { isIPv4, isIPv6 } from 'node:net';

/**
 * PROXY protocol header parsing, versions 1 (text) and 2 (binary), per the HAProxy specification. Pure: it looks at
 * the bytes read so far and says whether a header is complete, incomplete, or malformed. The caller reads more
 * while `PP_MORE` and gives up at its deadline.
 */

/** The v2 signature: `\r\n\r\n\0\r\nQUIT\n`. */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** A v1 line is at most 107 bytes with its CRLF. */
export const V1_MAX = 107;
/** The largest v2 header accepted (16 fixed bytes plus addresses and TLVs); more is refused as malformed. */
export const V2_MAX = 16 + 536;

/** What a complete header says: the original client, or null for LOCAL / UNKNOWN (keep the socket's own). */
export class ProxyHeader {
  readonly version: 1 | 2;
  /** The original source address, or null (v1 UNKNOWN, v2 LOCAL or an unsupported family). */
  readonly sourceAddress: string | null;
  readonly sourcePort: number;
  readonly destinationAddress: string | null;
  readonly destinationPort: number;
  /** How many bytes the header took; what follows is the client's own data. */
  readonly length: number;

  constructor(
    version: 1 | 2, sourceAddress: string | null, sourcePort: number,
    destinationAddress: string | null, destinationPort: number, length: number,
  ) {
    this.version = version;
    this.sourceAddress = sourceAddress;
    this.sourcePort = sourcePort;
    this.destinationAddress = destinationAddress;
    this.destinationPort = destinationPort;
    this.length = length;
  }
}

/** More bytes are needed before anything can be said. */
export const PP_MORE = 'more';

/** A complete header, `PP_MORE`, or a string saying what is malformed. */
export type ParseOutcome = ProxyHeader | typeof PP_MORE | { readonly malformed: string };

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');

export function parseProxyHeader(buf: Buffer): ParseOutcome {
  if (buf.length === 0) return PP_MORE;
  if (buf[0] === 0x0d) return parseV2(buf);
  if (buf[0] === 0x50) return parseV1(buf);
  return { malformed: `expected a PROXY protocol header, got byte 0x${buf[0]!.toString(16)}` };
}

function parseV1(buf: Buffer): ParseOutcome {
  const n = Math.min(buf.length, V1_PREFIX.length);
  if (buf.compare(V1_PREFIX, 0, n, 0, n) !== 0) return { malformed: 'expected "PROXY " to start a v1 header' };
  const end = buf.indexOf(0x0a);
  if (end < 0) return buf.length >= V1_MAX ? { malformed: `expected a v1 line within ${V1_MAX} bytes` } : PP_MORE;
  if (end + 1 > V1_MAX) return { malformed: `expected a v1 line within ${V1_MAX} bytes` };
  if (end < 1 || buf[end - 1] !== 0x0d) return { malformed: 'expected a v1 line ending in CRLF' };
  const parts = buf.toString('latin1', 6, end - 1).split(' ');
  const family = parts[0];
  if (family === 'UNKNOWN') return new ProxyHeader(1, null, 0, null, 0, end + 1);
  if (family !== 'TCP4' && family !== 'TCP6') return { malformed: `expected TCP4, TCP6 or UNKNOWN, got "${family}"` };
  if (parts.length !== 5) return { malformed: `expected 5 fields in a v1 ${family} line, got ${parts.length}` };
  const [, src, dst, sport, dport] = parts as [string, string, string, string, string];
  const valid = family === 'TCP4' ? isIPv4 : isIPv6;
  if (!valid(src) || !valid(dst)) return { malformed: `expected ${family} addresses, got "${src}" and "${dst}"` };
  const sp = portOf(sport);
  const dp = portOf(dport);
  if (sp < 0 || dp < 0) return { malformed: `expected ports 0-65535, got "${sport}" and "${dport}"` };
  return new ProxyHeader(1, src, sp, dst, dp, end + 1);
}

function portOf(text: string): number {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) return -1;
  const n = Number(text);
  return n <= 65535 ? n : -1;
}

function parseV2(buf: Buffer): ParseOutcome {
  const n = Math.min(buf.length, V2_SIGNATURE.length);
  if (buf.compare(V2_SIGNATURE, 0, n, 0, n) !== 0) return { malformed: 'expected the v2 signature' };
  if (buf.length < 16) return PP_MORE;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { malformed: `expected version 2, got ${verCmd >> 4}` };
  const command = verCmd & 0x0f;
  if (command > 1) return { malformed: `expected command LOCAL or PROXY, got ${command}` };
  const famProto = buf[13]!;
  const bodyLength = buf.readUInt16BE(14);
  const total = 16 + bodyLength;
  if (total > V2_MAX) return { malformed: `expected a v2 header of at most ${V2_MAX} bytes, got ${total}` };
  if (buf.length < total) return PP_MORE;
  // LOCAL (the proxy's own health check): the connection is the proxy's, its own address stands.
  if (command === 0) return new ProxyHeader(2, null, 0, null, 0, total);
  const family = famProto >> 4;
  if (family === 1) {
    if (bodyLength < 12) return { malformed: `expected 12 address bytes for AF_INET, got ${bodyLength}` };
    return new ProxyHeader(
      2, ipv4At(buf, 16), buf.readUInt16BE(24), ipv4At(buf, 20), buf.readUInt16BE(26), total,
    );
  }
  if (family === 2) {
    if (bodyLength < 36) return { malformed: `expected 36 address bytes for AF_INET6, got ${bodyLength}` };
    return new ProxyHeader(
      2, ipv6At(buf, 16), buf.readUInt16BE(48), ipv6At(buf, 32), buf.readUInt16BE(50), total,
    );
  }
  // AF_UNSPEC or AF_UNIX: nothing usable as a client address; the socket's own stands.
  if (family === 0 || family === 3) return new ProxyHeader(2, null, 0, null, 0, total);
  return { malformed: `expected address family 0-3, got ${family}` };
}

function ipv4At(buf: Buffer, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

function ipv6At(buf: Buffer, at: number): string {
  let text = '';
  for (let i = 0; i < 16; i += 2) text += (i === 0 ? '' : ':') + buf.readUInt16BE(at + i).toString(16);
  // 4-in-6 stays as Node writes it for a v4 client on a dual-stack socket.
  if (text.startsWith('0:0:0:0:0:ffff:')) return `::ffff:${ipv4At(buf, at + 12)}`;
  return text.replace(/(^|:)0(:0)+(:|$)/, '::');
}
