import type { Socket } from 'node:net';
import { UpstreamProxyError } from '../../../errors.js';
import { formatHostPort } from '../../../util/address.js';
import { dial } from '../../dial.js';
import type { DialOptions } from '../../../contracts/relay-engine.js';
import { HandshakeReader } from '../handshake-reader.js';
import { parseConnectResponse } from '../http-connect.js';
import { encodeRequest, parseReply, type Destination } from '../socks5.js';

const MAX_UPSTREAM_HANDSHAKE = 16 * 1024;

/**
 * Opens a tunnel to `dest` through an upstream proxy (`socks5://[user:pass@]host:port` or
 * `http://[user:pass@]host:port`). Resolves with a socket that carries the destination's bytes; bytes the upstream
 * sent right after its reply are put back in the socket so the relay delivers them first.
 */
export async function dialThroughUpstream(
  upstream: URL, dest: Destination, options: DialOptions & { handshakeTimeoutMs: number }, abort: AbortSignal,
): Promise<Socket> {
  const port = Number(upstream.port || (upstream.protocol === 'http:' ? 80 : 1080));
  const host = upstream.hostname.replace(/^\[|\]$/g, '');
  const socket = await dial({ host, port }, options, abort);
  const reader = new HandshakeReader(socket, MAX_UPSTREAM_HANDSHAKE, options.handshakeTimeoutMs, 'upstream');
  try {
    if (upstream.protocol === 'socks5:') await socks5Connect(socket, reader, upstream, dest);
    else await httpConnect(socket, reader, upstream, dest);
  } catch (err) {
    reader.release();
    socket.destroy();
    throw err;
  }
  const rest = reader.release();
  if (rest.length > 0) socket.unshift(rest);
  return socket;
}

async function socks5Connect(socket: Socket, reader: HandshakeReader, upstream: URL, dest: Destination): Promise<void> {
  const user = decodeURIComponent(upstream.username);
  const pass = decodeURIComponent(upstream.password);
  socket.write(Buffer.from(user ? [0x05, 0x02, 0x00, 0x02] : [0x05, 0x01, 0x00]));
  const method = await reader.read((b) => (b.length < 2 ? null : { value: b[1]!, used: 2 }));
  if (method === 0x02 && user) {
    const u = Buffer.from(user);
    const p = Buffer.from(pass);
    socket.write(Buffer.concat([Buffer.from([0x01, u.length]), u, Buffer.from([p.length]), p]));
    const status = await reader.read((b) => (b.length < 2 ? null : { value: b[1]!, used: 2 }));
    if (status !== 0x00) throw new UpstreamProxyError('upstream SOCKS5 proxy rejected the username/password');
  } else if (method !== 0x00) {
    throw new UpstreamProxyError(`upstream SOCKS5 proxy accepts none of our auth methods (answered ${method})`);
  }
  socket.write(encodeRequest(dest));
  const reply = await reader.read(parseReply);
  if (reply !== 0x00) {
    const message = `upstream SOCKS5 proxy could not reach ${formatHostPort(dest)} (reply ${reply})`;
    throw new UpstreamProxyError(message, reply !== 0x01);
  }
}

async function httpConnect(socket: Socket, reader: HandshakeReader, upstream: URL, dest: Destination): Promise<void> {
  const target = formatHostPort(dest);
  let request = `CONNECT ${target} HTTP/1.1\r\nhost: ${target}\r\n`;
  if (upstream.username) {
    const credentials = `${decodeURIComponent(upstream.username)}:${decodeURIComponent(upstream.password)}`;
    request += `proxy-authorization: Basic ${Buffer.from(credentials).toString('base64')}\r\n`;
  }
  socket.write(`${request}\r\n`);
  const status = await reader.read(parseConnectResponse);
  if (status !== 200) {
    // 407 is ours to fix (credentials); other answers are about the destination (403, 502, 504 …).
    throw new UpstreamProxyError(`upstream HTTP proxy answered ${status} to CONNECT ${target}`, status !== 407);
  }
}
