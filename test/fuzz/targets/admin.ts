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
  // The management API (GET /events is left out: a stream that never ends is its contract, tested on its own).
  '/users', '/users', '/users/:id/keys', '/users/:id/keys/:id', '/users/:id/usage/reset', '/services', '/services/:id',
  '/config', '/openapi.json', '/requests', '/usage/summary', '/report',
];
const QUERIES = [
  'limit=1', 'limit=0', 'limit=-5', 'limit=99999999999999999999', 'limit=1.5', 'cursor=%E0%A4%A', 'cursor=bm9wZQ',
  'cursor=', 'user=a&model=b&status=200', 'status=abc', 'since=yesterday', 'since=2026-01-01&until=1', 'groupBy=day',
  'groupBy=__proto__',
];
/** Bodies for the routes that read one: valid items, near misses and hostile JSON. */
const BODIES = [
  '{"id":"fz1"}', '{"id":"fz2","quota":{"bytes":"1GiB","period":"monthly"},"rate":{"in":"1MiB/s"}}', '{"id":""}',
  '{"id":null}', '{"id":"fz3","quota":{"bytes":-1}}', '{"id":"fz4","expires":"never"}', '{"id":"fz5","enabled":"yes"}',
  '{"id":"__proto__"}', '{"__proto__":{"polluted":1},"id":"fz6"}', '{"constructor":{"prototype":{"x":1}}}',
  '{"id":"fz7","keyHashes":[{"id":"a","sha256":"zz"}]}',
  '{"name":"fzs","type":"forward","listen":"127.0.0.1:auto","targets":["127.0.0.1:9"]}',
  '{"name":"fzp","type":"proxy","listen":"127.0.0.1:auto"}',
  '{"name":"fzx","type":"forward","listen":"127.0.0.1:1","targets":["127.0.0.1:9"]}',
  '{"name":"fzy","type":"gateway","listen":"x:auto"}', '{"name":"fzz","type":"nope"}', '{"id":"k1"}',
  '{"maxConnections":1e309}', '{"quota":null}', '{}', '[]', 'null', '1', '"x"', '{',
  '{"a":' + '['.repeat(5_000) + ']'.repeat(5_000) + '}', `{"id":"${'a'.repeat(60_000)}"}`, '\u0000',
  '{"id":"fz8"}{"id":"fz9"}',
];
const HEADERS = [
  'If-Match: "x"', 'If-Match: *', 'If-Match: ', 'Content-Type: text/plain', 'Content-Type: application/json',
];
const NAMES = ['fz1', 'fz2', 'fuzz', 'fzs', 'k1'];
const SEGMENTS = [
  'fuzz', '%E0%A4%A', '%', '%%', '%00', '%FF', '%C0%AF', '%ED%A0%80', '%2F', '..', '%u0041', '\u00e9',
  'a'.repeat(3_000), '', '%e2%9c%93',
];

/** Admin API requests: methods, paths with `%` escapes good and bad, absurd lengths, auth and framing oddities. */
export const adminTarget: FuzzTarget = {
  name: 'admin',
  service: 'admin',
  generate(rng: Rng): Buffer {
    let target = rng.pick(PATHS).replace(/:id/g, () => (rng.chance(0.5) ? rng.pick(NAMES) : rng.pick(SEGMENTS)));
    if (target === '/reload' && rng.chance(0.8)) target = '/status';
    if (rng.chance(0.15)) target += `?${rng.pick(['a=1', '%', 'x=%E0%A4%A', '&&&', 'a'.repeat(5_000)])}`;
    else if (rng.chance(0.3)) target += `?${rng.pick(QUERIES)}`;
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
    if (rng.chance(0.2)) headers.push(rng.pick(HEADERS));
    const json = rng.chance(0.4) ? Buffer.from(rng.pick(BODIES)) : undefined;
    const body = json ?? (rng.chance(0.15) ? rng.bytes(rng.int(rng.chance(0.1) ? 200_000 : 100)) : undefined);
    let bytes = rawRequest(rng, {
      method: json && rng.chance(0.7) ? rng.pick(['POST', 'POST', 'PATCH', 'DELETE']) : rng.pick(METHODS),
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
