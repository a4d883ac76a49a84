import { isIP } from 'node:net';
import { ProxyHandshakeError } from '../../errors.js';
import type { Parse } from './handshake-reader.js';

/** RFC 1928 reply codes tidegate uses. */
export const SOCKS_REPLY = {
  succeeded: 0x00,
  generalFailure: 0x01,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

export interface Destination {
  readonly host: string;
  readonly port: number;
}

/** Client greeting: VER NMETHODS METHODS… → the offered methods. */
export const parseGreeting: Parse<readonly number[]> = (b) => {
  if (b.length < 2) return null;
  if (b[0] !== 0x05) throw new ProxyHandshakeError(`expected SOCKS version 5, got ${b[0]}`);
  const n = b[1]!;
  if (b.length < 2 + n) return null;
  return { value: [...b.subarray(2, 2 + n)], used: 2 + n };
};

/** Thrown for a well-formed request tidegate will not serve; carries the SOCKS reply code to send. */
export class SocksRefusal extends ProxyHandshakeError {
  readonly reply: number;
  constructor(message: string, reply: number) {
    super(message);
    this.reply = reply;
  }
}

/** CONNECT request: VER CMD RSV ATYP DST.ADDR DST.PORT → the destination. */
export const parseRequest: Parse<Destination> = (b) => {
  if (b.length < 5) return null;
  if (b[0] !== 0x05) throw new ProxyHandshakeError(`expected SOCKS version 5 in the request, got ${b[0]}`);
  const atyp = b[3]!;
  let host: string;
  let at: number;
  if (atyp === 0x01) {
    if (b.length < 10) return null;
    host = `${b[4]}.${b[5]}.${b[6]}.${b[7]}`;
    at = 8;
  } else if (atyp === 0x03) {
    const len = b[4]!;
    if (b.length < 5 + len + 2) return null;
    host = b.toString('latin1', 5, 5 + len);
    at = 5 + len;
  } else if (atyp === 0x04) {
    if (b.length < 22) return null;
    const parts: string[] = [];
    for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(4 + i).toString(16));
    host = parts.join(':');
    at = 20;
  } else {
    throw new SocksRefusal(`address type ${atyp} is not supported`, SOCKS_REPLY.addressTypeNotSupported);
  }
  if (b[1] !== 0x01) throw new SocksRefusal(`SOCKS command ${b[1]} is not supported (only CONNECT)`, SOCKS_REPLY.commandNotSupported);
  return { value: { host, port: b.readUInt16BE(at) }, used: at + 2 };
};

/** A reply with an all-zero IPv4 bound address (clients ignore it for CONNECT). */
export function socksReply(code: number): Buffer {
  return Buffer.from([0x05, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
}

/** The CONNECT request tidegate sends to a SOCKS5 upstream. */
export function encodeRequest(dest: Destination): Buffer {
  const family = isIP(dest.host);
  let addr: Buffer;
  if (family === 4) addr = Buffer.from([0x01, ...dest.host.split('.').map(Number)]);
  else if (family === 6) addr = Buffer.concat([Buffer.from([0x04]), ipv6Bytes(dest.host)]);
  else {
    const name = Buffer.from(dest.host, 'latin1');
    addr = Buffer.concat([Buffer.from([0x03, name.length]), name]);
  }
  const port = Buffer.alloc(2);
  port.writeUInt16BE(dest.port);
  return Buffer.concat([Buffer.from([0x05, 0x01, 0x00]), addr, port]);
}

/** An upstream's reply to CONNECT: VER REP RSV ATYP BND.ADDR BND.PORT → the reply code. */
export const parseReply: Parse<number> = (b) => {
  if (b.length < 5) return null;
  if (b[0] !== 0x05) throw new ProxyHandshakeError(`upstream answered SOCKS version ${b[0]}`);
  const atyp = b[3]!;
  const size = atyp === 0x01 ? 10 : atyp === 0x04 ? 22 : atyp === 0x03 ? 7 + b[4]! : -1;
  if (size < 0) throw new ProxyHandshakeError(`upstream answered address type ${atyp}`);
  if (b.length < size) return null;
  return { value: b[1]!, used: size };
};

function ipv6Bytes(text: string): Buffer {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, ''];
  const h = head ? head!.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) || 0, i * 2));
  return out;
}
