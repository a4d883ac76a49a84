import { connect, type Socket } from 'node:net';
import type { Ports } from './tidegate-process.js';

/** One normal request per service; each resolves with null when it worked, else what went wrong. */
export async function checkServices(
  ports: Ports, clientKey: string, echoPort: number,
): Promise<Record<string, string | null>> {
  const [forward, proxy, gateway, admin] = await Promise.all([
    checkForward(ports.forward),
    checkProxy(ports.proxy, echoPort),
    checkHttp(
      ports.gateway,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${clientKey}\r\n`
      + `Content-Type: application/json\r\nContent-Length: ${CHAT.length}\r\nConnection: close\r\n\r\n${CHAT}`,
      '"choices"',
    ),
    checkHttp(ports.admin, 'GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', '"services"'),
  ]);
  return { forward, proxy, gateway, admin };
}

const CHAT = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
const DEADLINE_MS = 15_000;

/** Writes `request` and collects the answer until the server closes (or `until` bytes arrived). */
function exchange(port: number, request: Buffer | string, until: (got: Buffer) => boolean): Promise<Buffer | string> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    const timer = setTimeout(
      () => done(`no complete answer within ${DEADLINE_MS / 1000}s (got ${got.length} bytes)`), DEADLINE_MS,
    );
    function done(result: Buffer | string): void {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    }
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (until(got)) done(got);
    });
    socket.on('close', () => done(got));
    socket.on('error', (err) => done(`socket error ${err.message}`));
    socket.write(request);
  });
}

async function checkForward(port: number): Promise<string | null> {
  const got = await exchange(port, 'fuzz-ping', (b) => b.length >= 9);
  if (typeof got === 'string') return got;
  return got.toString() === 'fuzz-ping' ? null : `echo answered ${JSON.stringify(got.toString('latin1').slice(0, 80))}`;
}

/**
 * A SOCKS5 greeting then a CONNECT to the echo server: the method choice must be 05 00 and the reply a well-formed
 * SOCKS5 reply. Its code is not checked: the fuzz proxy routes through a refusing upstream, and the proxy may come to
 * refuse loopback destinations (0x02); either way the handshake path answered.
 */
async function checkProxy(port: number, echoPort: number): Promise<string | null> {
  const request = Buffer.from([0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, echoPort >> 8, echoPort & 0xff]);
  const got = await exchange(port, request, (b) => b.length >= 12);
  if (typeof got === 'string') return got;
  if (got.length < 12 || got[0] !== 0x05 || got[1] !== 0x00 || got[2] !== 0x05 || got[4] !== 0x00) {
    return `SOCKS5 answered ${got.toString('hex').slice(0, 40)}`;
  }
  return null;
}

async function checkHttp(port: number, request: string, expect: string): Promise<string | null> {
  const got = await exchange(port, request, () => false);
  if (typeof got === 'string') return got;
  const text = got.toString();
  return /^HTTP\/1\.1 200 /.test(text) && text.includes(expect) ? null : `answered ${JSON.stringify(text.slice(0, 200))}`;
}
