import { rawRequest } from '../http-request.js';
import { mutate } from '../mutate.js';
import type { Rng } from '../rng.js';
import type { FuzzTarget } from '../target.js';

const METHODS = [
  'GET', 'GET', 'GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'get', 'FOO', 'G\u0000T',
  'CONNECT',
];
const PATHS = [
  '/status', '/services', '/sync', '/metrics', '/cache', '/users/:id/usage', '/users/:id', '/reload', '/', '/nope', '*',
  '/status/',
];
const SEGMENTS = [
  'fuzz', '%E0%A4%A', '%', '%%', '%00', '%FF', '%C0%AF', '%ED%A0%80', '%2F', '..', '%u0041', '\u00e9',
  'a'.repeat(3_000), '', '%e2%9c%93',
];

/** Admin API requests: methods, paths with `%` escapes good and bad, absurd lengths, auth and framing oddities. */
export const adminTarget: FuzzTarget = {
  name: 'admin',
  service: 'admin',
  generate(rng: Rng): Buffer {
    let target = rng.pick(PATHS).replace(':id', () => rng.pick(SEGMENTS));
    if (target === '/reload' && rng.chance(0.8)) target = '/status';
    if (rng.chance(0.15)) target += `?${rng.pick(['a=1', '%', 'x=%E0%A4%A', '&&&', 'a'.repeat(5_000)])}`;
    if (rng.chance(0.05)) target = rng.pick(['http://127.0.0.1/status', `/${'x/'.repeat(10_000)}`, '/status#frag', '/sta tus', '']);
    const headers = ['Host: 127.0.0.1'];
    if (rng.chance(0.3)) {
      headers.push(rng.pick([
        'Authorization: Bearer x', 'Authorization: Bearer ', 'Authorization: Basic x',
        `Authorization: Bearer ${'t'.repeat(9_000)}`, 'Authorization: \u00ff',
      ]));
    }
    if (rng.chance(0.1)) {
      headers.push(rng.pick([
        'Content-Length: 1', 'Content-Length: -1', 'Content-Length: 99999999999', 'Expect: 100-continue',
        'Connection: close', 'X: \u0000', 'bad header',
      ]));
    }
    const body = rng.chance(0.15) ? rng.bytes(rng.int(rng.chance(0.1) ? 200_000 : 100)) : undefined;
    let bytes = rawRequest(rng, {
      method: rng.pick(METHODS),
      target,
      version: rng.chance(0.95) ? 'HTTP/1.1' : rng.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1\u0000', '']),
      headers,
      body,
      framing: body ? rng.pick(['length', 'short-length', 'long-length', 'chunked', 'bad-chunked'] as const) : 'none',
    });
    if (rng.chance(0.25)) bytes = mutate(rng, bytes);
    // Pipelining: a second request behind the first.
    if (rng.chance(0.1)) bytes = Buffer.concat([bytes, Buffer.from('GET /status HTTP/1.1\r\nHost: x\r\n\r\n')]);
    return bytes;
  },
};
