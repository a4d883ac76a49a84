import { isIP } from 'node:net';
import { HttpRefusal, ProxyHandshakeError } from '../../errors.js';
import type { Parse } from './handshake-reader.js';
import { hostAgrees, parseAbsoluteUri, type AbsoluteTarget } from './absolute-uri.js';
import { isHostName } from './host-name.js';
import type { Destination } from './socks5.js';

const HEADER_END = Buffer.from('\r\n\r\n');
const CR = 0x0d;
const LF = 0x0a;

/** The request line and header fields together: larger is 431 however the bytes arrive. */
export const MAX_HEADER_BLOCK = 8 * 1024;
const MAX_HEADER_FIELDS = 100;

/** token (RFC 9110 §5.6.2): the method and field names. */
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field values: visible ASCII, obs-text, spaces and tabs; no other control characters. */
const FIELD_VALUE_RE = /^[\t\x20-\x7e\x80-\xff]*$/;
const PORT_RE = /^[1-9]\d{0,4}$/;

/**
 * The first request on an HTTP proxy connection. CONNECT's head is consumed (what follows is the tunnel); a plain
 * request's head is left in place (`used` 0) for the HTTP server that forwards it, after these strict checks.
 */
export interface ProxyHead {
  /** CONNECT's destination, or null for a plain request. */
  readonly connect: Destination | null;
  /** A plain request's absolute URI taken apart, or null for CONNECT. */
  readonly plain: AbsoluteTarget | null;
  /** The Proxy-Authorization field's value, or null. */
  readonly authorization: string | null;
}

/**
 * `CONNECT host:port HTTP/1.1` or `METHOD http://host[:port]/path HTTP/1.1` and its header fields → the proxy head.
 * Strict (RFC 9112): the block is at most 8 KiB, checked before any parsing; lines end in CRLF (a bare LF or CR is
 * refused rather than guessed at, so no two parsers can read the block differently); single spaces in the request
 * line; version exactly HTTP/1.0 or HTTP/1.1; CONNECT's `host:port` with a valid name or address and a port
 * 1-65535; a plain request's absolute URI likewise (`http://` only), and a Host field, when present, that names
 * the URI's host and port; fields are `token: value` without control characters or obsolete line folding.
 */
export const parseConnect: Parse<ProxyHead> = (b) => {
  const end = b.indexOf(HEADER_END);
  if (end < 0 || end + 4 > MAX_HEADER_BLOCK) {
    if (b.length >= MAX_HEADER_BLOCK || end >= 0) {
      throw new HttpRefusal(`request header block larger than ${MAX_HEADER_BLOCK} bytes`, 431, 'too_large');
    }
    checkLineEnds(b, b.length);
    return null;
  }
  checkLineEnds(b, end + 4);
  const head = b.toString('latin1', 0, end);
  const lines = head.split('\r\n');
  if (lines.length - 1 > MAX_HEADER_FIELDS) {
    throw new HttpRefusal(`more than ${MAX_HEADER_FIELDS} header fields`, 431, 'too_large');
  }
  const line = parseRequestLine(lines[0]!);
  let authorization: string | null = null;
  let host: string | null = null;
  for (let i = 1; i < lines.length; i++) {
    const field = lines[i]!;
    const colon = checkField(field);
    const name = field.slice(0, colon).toLowerCase();
    if (name === 'proxy-authorization') authorization = field.slice(colon + 1).trim();
    else if (name === 'host') {
      if (host !== null) throw new HttpRefusal('more than one Host field', 400, 'malformed');
      host = field.slice(colon + 1);
    }
  }
  if (line.method === 'CONNECT') {
    return { value: { connect: parseAuthority(line.target), plain: null, authorization }, used: end + 4 };
  }
  const plain = parseAbsoluteUri(line.target);
  if (typeof plain === 'string') throw new HttpRefusal(plain, 400, 'malformed');
  if (host !== null && !hostAgrees(host, plain)) {
    const shown = JSON.stringify(host.trim().slice(0, 80));
    throw new HttpRefusal(`the Host field ${shown} disagrees with the URI's ${plain.authority}`, 400, 'malformed');
  }
  return { value: { connect: null, plain, authorization }, used: 0 };
};

/** Every LF in `b[0, upTo)` must follow a CR, and every CR precede an LF. */
function checkLineEnds(b: Buffer, upTo: number): void {
  for (let at = b.indexOf(LF); at >= 0 && at < upTo; at = b.indexOf(LF, at + 1)) {
    if (at === 0 || b[at - 1] !== CR) {
      throw new HttpRefusal('expected CRLF line endings, got a bare LF', 400, 'malformed');
    }
  }
  for (let at = b.indexOf(CR); at >= 0 && at < upTo; at = b.indexOf(CR, at + 1)) {
    if (at + 1 < upTo && b[at + 1] !== LF) {
      throw new HttpRefusal('expected CRLF line endings, got a bare CR', 400, 'malformed');
    }
  }
}

function parseRequestLine(line: string): { method: string; target: string } {
  const shown = JSON.stringify(line.slice(0, 80));
  const sp1 = line.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : line.indexOf(' ', sp1 + 1);
  if (sp2 < 0 || line.indexOf(' ', sp2 + 1) >= 0) {
    const expected = '"CONNECT host:port HTTP/1.1" or "GET http://host/path HTTP/1.1"';
    throw new HttpRefusal(`expected ${expected}, got ${shown}`, 400, 'malformed');
  }
  const method = line.slice(0, sp1);
  const target = line.slice(sp1 + 1, sp2);
  const version = line.slice(sp2 + 1);
  if (!TOKEN_RE.test(method)) throw new HttpRefusal(`expected a method name, got ${shown}`, 400, 'malformed');
  if (version !== 'HTTP/1.1' && version !== 'HTTP/1.0') {
    if (/^HTTP\/\d\.\d$/.test(version)) throw new HttpRefusal(`HTTP version ${version} is not supported (HTTP/1.0 or HTTP/1.1)`, 505, 'unsupported');
    throw new HttpRefusal(
      `expected HTTP/1.0 or HTTP/1.1 at the end of the request line, got ${shown}`, 400, 'malformed',
    );
  }
  return { method, target };
}

/** `name:port`, `a.b.c.d:port` or `[v6]:port`. */
export function parseAuthority(target: string): Destination {
  const shown = JSON.stringify(target.slice(0, 80));
  let host: string;
  let portText: string;
  if (target.startsWith('[')) {
    const close = target.indexOf(']');
    host = close < 0 ? '' : target.slice(1, close);
    portText = close < 0 || target[close + 1] !== ':' ? '' : target.slice(close + 2);
    if (isIP(host) !== 6 || host.includes('%')) {
      throw new HttpRefusal(`CONNECT target: expected [IPv6]:port, got ${shown}`, 400, 'malformed');
    }
  } else {
    const colon = target.lastIndexOf(':');
    host = colon < 0 ? '' : target.slice(0, colon);
    portText = colon < 0 ? '' : target.slice(colon + 1);
    if (!isHostName(host)) {
      throw new HttpRefusal(
        `CONNECT target: expected host:port with a host name or IPv4 address, got ${shown}`, 400, 'malformed',
      );
    }
  }
  if (!PORT_RE.test(portText) || Number(portText) > 65535) {
    throw new HttpRefusal(`CONNECT target: expected a port 1-65535, got ${shown}`, 400, 'malformed');
  }
  return { host, port: Number(portText) };
}

/** Checks one field line; returns the position of its colon. */
function checkField(line: string): number {
  const colon = line.indexOf(':');
  if (line.length > 0 && (line[0] === ' ' || line[0] === '\t')) {
    throw new HttpRefusal('obsolete line folding in the header fields is not accepted', 400, 'malformed');
  }
  if (colon <= 0 || !TOKEN_RE.test(line.slice(0, colon))) {
    throw new HttpRefusal(
      `expected a header field "name: value", got ${JSON.stringify(line.slice(0, 80))}`, 400, 'malformed',
    );
  }
  if (!FIELD_VALUE_RE.test(line.slice(colon + 1))) {
    throw new HttpRefusal(`header field ${line.slice(0, colon)} has control characters in its value`, 400, 'malformed');
  }
  return colon;
}

/** An upstream HTTP proxy's answer to our CONNECT → its status code. */
export const parseConnectResponse: Parse<number> = (b) => {
  const end = b.indexOf(HEADER_END);
  if (end < 0) return null;
  const line = b.toString('latin1', 0, Math.min(end, b.indexOf('\r\n')));
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(line);
  if (!m) throw new ProxyHandshakeError(`upstream answered "${line.slice(0, 80)}" to CONNECT`, 'malformed');
  return { value: Number(m[1]), used: end + 4 };
};

/** A proxy answer in HTTP: a bare status line, or a JSON error body with the error's stable code. */
export function httpReply(status: number, reason: string, message?: string, code = ProxyHandshakeError.code): Buffer {
  if (message === undefined) return Buffer.from(`HTTP/1.1 ${status} ${reason}\r\n\r\n`, 'latin1');
  const body = JSON.stringify({ error: { code, message } });
  return Buffer.from(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\n`
      + `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    'utf8',
  );
}
