import { ProxyHandshakeError } from '../../errors.js';
import { parseHostPort } from '../../util/address.js';
import type { Parse } from './handshake-reader.js';
import type { Destination } from './socks5.js';

const HEADER_END = Buffer.from('\r\n\r\n');

/** Thrown for a well-formed HTTP request tidegate will not serve; carries the status line to answer with. */
export class HttpRefusal extends ProxyHandshakeError {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

/** `CONNECT host:port HTTP/1.1` and its headers → the destination. */
export const parseConnect: Parse<Destination> = (b) => {
  const end = b.indexOf(HEADER_END);
  if (end < 0) return null;
  const head = b.toString('latin1', 0, end);
  const nl = head.indexOf('\r\n');
  const firstLine = nl < 0 ? head : head.slice(0, nl);
  const [method, target, version] = firstLine.split(' ');
  if (!version?.startsWith('HTTP/1.')) throw new HttpRefusal(`expected an HTTP/1.x request line, got "${firstLine.slice(0, 80)}"`, 400);
  if (method !== 'CONNECT') throw new HttpRefusal(`only CONNECT is supported by this proxy, got ${method}`, 405);
  const dest = parseHostPort(target);
  if (typeof dest === 'string') throw new HttpRefusal(`CONNECT target: ${dest}`, 400);
  return { value: dest, used: end + 4 };
};

/** An upstream HTTP proxy's answer to our CONNECT → its status code. */
export const parseConnectResponse: Parse<number> = (b) => {
  const end = b.indexOf(HEADER_END);
  if (end < 0) return null;
  const line = b.toString('latin1', 0, Math.min(end, b.indexOf('\r\n')));
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(line);
  if (!m) throw new ProxyHandshakeError(`upstream answered "${line.slice(0, 80)}" to CONNECT`);
  return { value: Number(m[1]), used: end + 4 };
};

export function httpReply(status: number, reason: string, message?: string): Buffer {
  if (message === undefined) return Buffer.from(`HTTP/1.1 ${status} ${reason}\r\n\r\n`, 'latin1');
  const body = JSON.stringify({ error: { code: 'TG_ERR_PROXY', message } });
  return Buffer.from(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    'utf8',
  );
}
