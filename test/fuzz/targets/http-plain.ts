import { mutate } from '../mutate.js';
import type { Rng } from '../rng.js';
import type { FuzzEnv, FuzzTarget } from '../target.js';

const METHODS = [
  'GET', 'GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH', 'get', 'G\u0000T', 'X'.repeat(3_000),
];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 x', ''];
const SEPARATORS = ['\r\n', '\r\n', '\r\n', '\r\n', '\n', '\r'];

/**
 * Plain (absolute-URI) proxy requests: well-formed and malformed URIs (no host, userinfo, bad ports, IPv6 forms,
 * fragments, control and non-ASCII bytes, `https://`), Host fields that agree, disagree or repeat, credentials with
 * bad encodings, bodies framed by Content-Length or chunked (also contradictory or truncated), Upgrade and CONNECT on
 * the same connection, pipelined second requests (they reach Node's parser, not the strict first-request reader),
 * header floods in one write, then byte-level mutations.
 */
export const httpPlainTarget: FuzzTarget = {
  name: 'http-plain',
  service: 'proxy',
  generate(rng: Rng, env: FuzzEnv): Buffer {
    let text = request(rng, env);
    const more = rng.int(3);
    const connect = `CONNECT 127.0.0.1:${env.echoPort} HTTP/1.1\r\n\r\n`;
    for (let i = 0; i < more; i++) text += rng.chance(0.2) ? connect : request(rng, env);
    let bytes: Buffer = Buffer.from(text, 'latin1');
    if (rng.chance(0.3)) bytes = mutate(rng, bytes);
    return bytes;
  },
};

function request(rng: Rng, env: FuzzEnv): string {
  const authority = rng.pick([
    `127.0.0.1:${env.echoPort}`, `localhost:${env.echoPort}`, `[::1]:${env.echoPort}`, 'example.invalid', '127.0.0.1:0',
    '127.0.0.1:99999', 'user:pw@127.0.0.1', '', '[::1', 'a..b', `127.0.0.1:${env.adminPort}`, '%31.0.0.1', '127.1',
  ]);
  const scheme = rng.pick(['http://', 'http://', 'http://', 'HTTP://', 'https://', 'ftp://', '', '//']);
  const path = rng.pick([
    '/', '/a?b=c', '', '?q', '/#frag', '/sp ace', '/\u0001', '/\u00e9', `/${'p'.repeat(rng.int(9_000))}`,
  ]);
  const eol = rng.pick(SEPARATORS);
  const headers: string[] = [];
  const host = rng.chance(0.8) ? authority : rng.pick(['other.example', '', 'a b', authority + ':1']);
  if (rng.chance(0.8)) headers.push(`Host: ${host}`);
  if (rng.chance(0.1)) headers.push(`Host: ${authority}`);
  const extra = rng.int(7);
  let body = '';
  for (let i = 0; i < extra; i++) {
    const pick = rng.pick([
      'Proxy-Authorization: Basic Zm9vOmJhcg==', 'Proxy-Authorization: Basic !!!', 'Proxy-Authorization: Basic',
      'Proxy-Authorization: Digest x',
      `Proxy-Authorization: Basic ${Buffer.from('\u00ff\u0000:\n').toString('base64')}`,
      'Connection: close', 'Connection: keep-alive, X-A', 'X-A: 1', 'Proxy-Connection: keep-alive', 'TE: trailers',
      'Upgrade: websocket', 'Connection: Upgrade', 'Keep-Alive: 5', 'Expect: 100-continue', 'Content-Length: 5',
      'Content-Length: -1', 'Content-Length: 5, 6', 'Transfer-Encoding: chunked', 'Transfer-Encoding: gzip',
      `X-Big: ${'b'.repeat(rng.int(10_000))}`, 'X-Nul: a\u0000b', ' folded: x',
    ]);
    headers.push(pick);
    if (pick === 'Content-Length: 5') body = rng.pick(['hello', 'hi', 'hello world']);
    if (pick === 'Transfer-Encoding: chunked') {
      body = rng.pick(['5\r\nhello\r\n0\r\n\r\n', '5\r\nhel', 'zz\r\n\r\n', '0\r\n\r\n']);
    }
  }
  if (rng.chance(0.03)) for (let i = 0; i < 2_000; i++) headers.push(`X-${i}: ${i}`);
  const line = `${rng.pick(METHODS)} ${scheme}${authority}${path} ${rng.pick(VERSIONS)}`;
  return `${line}${eol}${headers.join(eol)}${eol}${eol}${body}`;
}
