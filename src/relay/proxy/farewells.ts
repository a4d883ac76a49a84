import {
  ConnectTimeoutError,
  type DestinationDeniedError,
  HttpRefusal,
  ProxyAuthError,
  ProxyHandshakeError,
  SocksGreetingRefusal,
  SocksRefusal,
  UpstreamProxyError,
  UpstreamUnavailableError,
} from '../../errors.js';
import { httpReply } from './http-connect.js';
import { SOCKS_REPLY, socksReply, userPassReply } from './socks5.js';

/** The protocol a proxy client speaks (told apart by its first byte). */
export type Protocol = 'socks5' | 'http';

export const NO_ACCEPTABLE_METHODS = Buffer.from([0x05, 0xff]);

const HTTP_REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request', 405: 'Method Not Allowed', 431: 'Request Header Fields Too Large',
  505: 'HTTP Version Not Supported',
};

const PROXY_AUTHENTICATE = 'proxy-authenticate: Basic realm="tidegate"\r\n';

/** The last bytes for a client whose handshake failed, in its protocol; null: just close. */
export function handshakeFarewell(protocol: Protocol, err: Error): Buffer | null {
  if (err instanceof ProxyAuthError) {
    if (protocol === 'socks5') return userPassReply(false);
    const reply = httpReply(407, 'Proxy Authentication Required', err.message, err.code).toString('utf8');
    return Buffer.from(reply.replace('\r\n', `\r\n${PROXY_AUTHENTICATE}`), 'utf8');
  }
  if (protocol === 'socks5') {
    if (err instanceof SocksRefusal) return socksReply(err.reply);
    return err instanceof SocksGreetingRefusal ? NO_ACCEPTABLE_METHODS : null;
  }
  if (err instanceof HttpRefusal) return httpReply(err.status, HTTP_REASONS[err.status] ?? 'Bad Request', err.message);
  return err instanceof ProxyHandshakeError && err.reason !== 'peer_closed'
    ? httpReply(400, 'Bad Request', err.message)
    : null;
}

export function deniedFarewell(protocol: Protocol, err: DestinationDeniedError): Buffer {
  return protocol === 'socks5'
    ? socksReply(SOCKS_REPLY.notAllowed)
    : httpReply(403, 'Forbidden', err.message, err.code);
}

/** The answer to a client whose destination (or upstream) could not be reached. */
export function connectFarewell(protocol: Protocol, err: NodeJS.ErrnoException): Buffer {
  const timedOut = err.code === ConnectTimeoutError.code || err.code === 'ETIMEDOUT';
  if (protocol === 'socks5') {
    const code = err.code === 'ECONNREFUSED' ? SOCKS_REPLY.connectionRefused
      : err.code === 'ENETUNREACH' ? SOCKS_REPLY.networkUnreachable
      : timedOut || err.code === 'EHOSTUNREACH' || err.code === 'ENOTFOUND' ? SOCKS_REPLY.hostUnreachable
      : SOCKS_REPLY.generalFailure;
    return socksReply(code);
  }
  if (timedOut) return httpReply(504, 'Gateway Timeout', err.message, ConnectTimeoutError.code);
  if (err instanceof UpstreamProxyError) return httpReply(502, 'Bad Gateway', err.message, err.code);
  return httpReply(
    502, 'Bad Gateway', `cannot reach the destination: ${err.code ?? err.message}`, UpstreamUnavailableError.code,
  );
}
