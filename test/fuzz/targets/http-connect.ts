import { mutate } from '../mutate.js';
import type { Rng } from '../rng.js';
import type { FuzzEnv, FuzzTarget } from '../target.js';

const METHODS = [
  'CONNECT', 'CONNECT', 'CONNECT', 'connect', 'GET', 'POST', 'CONNECT\u0000', 'CONN', '', 'C'.repeat(5_000),
];
const VERSIONS = [
  'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/1.1\u0000', 'HTTP/2', 'HTTP/1.10', 'http/1.1', 'HTTP/1.1 extra', '',
  'HTTP/',
];
const SEPARATORS = ['\r\n', '\r\n', '\r\n', '\n', '\r', '\r\r\n'];

/**
 * HTTP CONNECT heads: methods, authorities (no port, port 0/99999/words, IPv6 forms, spaces, %), versions with
 * trailing bytes, bare LF, header lines with no colon or obs-fold, header blocks of 64 KiB in one write or
 * dribbled, then byte-level mutations. Authorities stay loopback or malformed (the proxy routes upstream anyway).
 */
export const httpConnectTarget: FuzzTarget = {
  name: 'http-connect',
  service: 'proxy',
  generate(rng: Rng, env: FuzzEnv): Buffer {
    const authority = rng.pick([
      `127.0.0.1:${env.echoPort}`, `127.0.0.1:${env.adminPort}`, `[::1]:${env.echoPort}`, `localhost:${env.echoPort}`,
      '127.0.0.1', '127.0.0.1:0', '127.0.0.1:99999', '127.0.0.1:-1', '127.0.0.1:http', ':80', '[::1', '[]:80',
      '127.0.0.1:80 x', '%31%32:80', '', '/path',
      `127.0.0.1:${env.echoPort}${'0'.repeat(40)}`,
    ]);
    const eol = rng.pick(SEPARATORS);
    const headers: string[] = [`Host: ${authority}`];
    const extra = rng.int(6);
    for (let i = 0; i < extra; i++) {
      headers.push(rng.pick([
        'Proxy-Authorization: Basic Zm9vOmJhcg==', 'Proxy-Authorization: Basic !!!', 'Proxy-Authorization: ',
        'X-No-Colon', ' folded: continuation', 'Content-Length: 5', 'Transfer-Encoding: chunked',
        `X-Big: ${'b'.repeat(rng.int(70_000))}`,
        'X-Nul: a\u0000b', 'X-High: \u00ff\u00fe', ':empty-name', 'Connection: keep-alive',
      ]));
    }
    if (rng.chance(0.05)) for (let i = 0; i < 3_000; i++) headers.push(`X-${i}: ${i}`);
    let text = `${rng.pick(METHODS)} ${authority} ${rng.pick(VERSIONS)}${eol}${headers.join(eol)}${eol}`
      + `${rng.chance(0.9) ? eol : ''}`;
    if (rng.chance(0.2)) text += rng.bytes(rng.int(200)).toString('latin1');
    let bytes: Buffer = Buffer.from(text, 'latin1');
    if (rng.chance(0.35)) bytes = mutate(rng, bytes);
    return bytes;
  },
};
