import type { Socket } from 'node:net';
import type { Probe } from '../../../health/health-check.js';
import { probeTcp } from '../../../health/tcp-probe.js';

const SOCKS_NO_AUTH = Buffer.from([0x05, 0x01, 0x00]);
const SOCKS_WITH_LOGIN = Buffer.from([0x05, 0x02, 0x00, 0x02]);

/**
 * The check of an upstream proxy: a TCP connect, and for SOCKS5 the method exchange too (a SOCKS5 server answers
 * `05 xx`; anything else on that port is not one). No destination is dialled through it: a probe must not depend on
 * some remote site being up.
 */
export function upstreamProbe(url: URL): Probe {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || (url.protocol === 'http:' ? 80 : 1080));
  const talk = url.protocol === 'socks5:' ? (url.username ? greetWithLogin : greet) : null;
  return function probeUpstream(signal: AbortSignal): Promise<void> {
    return probeTcp(host, port, signal, talk);
  };
}

function greet(socket: Socket): Promise<void> {
  return socksGreeting(socket, SOCKS_NO_AUTH);
}

function greetWithLogin(socket: Socket): Promise<void> {
  return socksGreeting(socket, SOCKS_WITH_LOGIN);
}

function socksGreeting(socket: Socket, greeting: Buffer): Promise<void> {
  return new Promise<void>(function greetingExecutor(resolve, reject) {
    socket.once('data', function greetingAnswered(b: Buffer) {
      if (b[0] === 0x05) resolve();
      else reject(new Error(`not a SOCKS5 server (answered 0x${(b[0] ?? 0).toString(16)})`));
    });
    socket.once('end', function greetingUnanswered() {
      reject(new Error('closed without a SOCKS5 answer'));
    });
    socket.write(greeting);
  });
}
