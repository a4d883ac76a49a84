import { isIP } from 'node:net';
import { ProxyAuthError, ProxyHandshakeError, SocksGreetingRefusal, SocksRefusal } from '../../errors.js';
import type { Credentials } from './auth/login-directory.js';
import type { Parse } from './handshake-reader.js';
import { isHostName } from './host-name.js';

/** RFC 1928 reply codes tidegate uses. */
export const SOCKS_REPLY = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
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

/** Client greeting: VER NMETHODS METHODS… (at most 257 bytes) → the offered methods. */
export const parseGreeting: Parse<readonly number[]> = (b) => {
  if (b.length < 2) return null;
  if (b[0] !== 0x05) throw new SocksGreetingRefusal(`expected SOCKS version 5, got ${b[0]}`, 'unsupported');
  const n = b[1]!;
  if (n === 0) throw new SocksGreetingRefusal('the SOCKS5 greeting offers no authentication method', 'no_method');
  if (b.length < 2 + n) return null;
  return { value: [...b.subarray(2, 2 + n)], used: 2 + n };
};

/**
 * RFC 1929 username/password request: VER(1) ULEN UNAME PLEN PASSWD → the credentials (UTF-8). A wrong version is
 * a ProxyAuthError, refused with status 0x01 like a wrong password (`01 01`); empty fields are left to the login
 * check, which refuses them.
 */
export const parseUserPass: Parse<Credentials> = (b) => {
  if (b.length === 0) return null;
  if (b[0] !== 0x01) throw new ProxyAuthError(`expected username/password version 1, got ${b[0]}`, false);
  if (b.length < 2) return null;
  const ulen = b[1]!;
  if (b.length < 3 + ulen) return null;
  const plen = b[2 + ulen]!;
  if (b.length < 3 + ulen + plen) return null;
  const username = b.toString('utf8', 2, 2 + ulen);
  const password = b.toString('utf8', 3 + ulen, 3 + ulen + plen);
  return { value: { username, password }, used: 3 + ulen + plen };
};

/** The RFC 1929 status reply: 0x00 success, anything else failure (the client must close). */
export function userPassReply(ok: boolean): Buffer {
  return Buffer.from([0x01, ok ? 0x00 : 0x01]);
}

/**
 * CONNECT request: VER CMD RSV ATYP DST.ADDR DST.PORT (at most 262 bytes) → the destination. Each field is checked
 * as soon as it has arrived, and each malformed one is refused with its reply code: a wrong version or reserved
 * byte, an empty or malformed name, or port 0 → general failure; a command other than CONNECT → command not
 * supported; an unknown address type → address type not supported.
 */
export const parseRequest: Parse<Destination> = (b) => {
  if (b.length === 0) return null;
  if (b[0] !== 0x05) {
    throw new SocksRefusal(
      `expected SOCKS version 5 in the request, got ${b[0]}`, SOCKS_REPLY.generalFailure, 'malformed',
    );
  }
  if (b.length < 2) return null;
  if (b[1] !== 0x01) {
    throw new SocksRefusal(
      `SOCKS command ${b[1]} is not supported (only CONNECT)`, SOCKS_REPLY.commandNotSupported, 'unsupported',
    );
  }
  if (b.length < 3) return null;
  if (b[2] !== 0x00) {
    throw new SocksRefusal(`expected the reserved byte to be 0, got ${b[2]}`, SOCKS_REPLY.generalFailure, 'malformed');
  }
  if (b.length < 4) return null;
  const atyp = b[3]!;
  let host: string;
  let at: number;
  if (atyp === 0x01) {
    if (b.length < 10) return null;
    host = `${b[4]}.${b[5]}.${b[6]}.${b[7]}`;
    at = 8;
  } else if (atyp === 0x03) {
    if (b.length < 5) return null;
    const len = b[4]!;
    if (len === 0) {
      throw new SocksRefusal('the SOCKS5 request names an empty host', SOCKS_REPLY.generalFailure, 'malformed');
    }
    if (b.length < 5 + len + 2) return null;
    host = b.toString('latin1', 5, 5 + len);
    // A name that is an IPv6 literal is taken as one; anything else must be a host name or an IPv4 address.
    if (isIP(host) !== 6 && !isHostName(host)) {
      throw new SocksRefusal(
        `expected a host name, got ${JSON.stringify(host.slice(0, 80))}`, SOCKS_REPLY.generalFailure, 'malformed',
      );
    }
    at = 5 + len;
  } else if (atyp === 0x04) {
    if (b.length < 22) return null;
    const parts: string[] = [];
    for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(4 + i).toString(16));
    host = parts.join(':');
    at = 20;
  } else {
    throw new SocksRefusal(`address type ${atyp} is not supported`, SOCKS_REPLY.addressTypeNotSupported, 'unsupported');
  }
  const port = b.readUInt16BE(at);
  if (port === 0) throw new SocksRefusal('the SOCKS5 request names port 0', SOCKS_REPLY.generalFailure, 'malformed');
  return { value: { host, port }, used: at + 2 };
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
  if (b[0] !== 0x05) throw new ProxyHandshakeError(`upstream answered SOCKS version ${b[0]}`, 'malformed');
  const atyp = b[3]!;
  const size = atyp === 0x01 ? 10 : atyp === 0x04 ? 22 : atyp === 0x03 ? 7 + b[4]! : -1;
  if (size < 0) throw new ProxyHandshakeError(`upstream answered address type ${atyp}`, 'malformed');
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
