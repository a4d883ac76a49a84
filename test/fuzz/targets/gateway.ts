import { rawRequest, type Framing } from '../http-request.js';
import { mutate } from '../mutate.js';
import type { Rng } from '../rng.js';
import type { FuzzEnv, FuzzTarget } from '../target.js';

const ENDPOINTS = [
  ['POST', '/v1/chat/completions', 'openai'], ['POST', '/v1/chat/completions', 'openai'],
  ['POST', '/v1/messages', 'anthropic'],
  ['POST', '/v1/completions', 'openai'], ['POST', '/v1/embeddings', 'openai'], ['GET', '/v1/models', 'openai'],
] as const;

/** JSON bodies: valid ones, then every way a body goes wrong. */
function body(rng: Rng, family: string, env: FuzzEnv): Buffer {
  const model = rng.pick(
    family === 'anthropic' ? ['claude-3-haiku', 'gpt-4o', ''] : ['gpt-4o', 'gpt-4o-mini', 'claude-3-haiku', 'nope'],
  );
  const valid: Record<string, unknown> = family === 'anthropic'
    ? { model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }
    : { model, messages: [{ role: 'user', content: 'hi' }], input: 'hi', prompt: 'hi' };
  if (rng.chance(0.3)) valid.stream = rng.pick([true, false, 'yes', 1, null]);
  switch (rng.int(12)) {
    case 0: { const text = JSON.stringify(valid); return Buffer.from(text.slice(0, rng.int(text.length))); }
    case 1: {
      const depth = rng.pick([100, 1_000, 10_000, 100_000]);
      return Buffer.from(
        `{"model":"gpt-4o","messages":${'['.repeat(depth)}${']'.repeat(rng.chance(0.5) ? depth : 0)}}`,
      );
    }
    case 2: return Buffer.from(JSON.stringify(valid).replace(/16|"hi"/, rng.pick(['1e999999', '123456789012345678901234567890', '-0', '1.7976931348623157e309', 'NaN', '0x10'])));
    case 3: return Buffer.from(JSON.stringify({
      ...valid,
      messages: rng.pick(['x', 5, null, {}, [null], [{ role: 7, content: { a: [] } }]]),
      model: rng.pick([5, null, [], {}]),
    }));
    case 4: return Buffer.concat([
      Buffer.from('{"model":"gpt-4o","messages":[{"role":"user","content":"'),
      Buffer.from(rng.pick([[0xff, 0xfe], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe0, 0x80], [0xf4, 0x90, 0x80, 0x80]])),
      Buffer.from('"}]}'),
    ]);
    case 5: return Buffer.concat([
      Buffer.from('{"model":"gpt-4o","pad":"'), Buffer.alloc(env.maxBodyBytes + rng.int(1_000), 0x61),
      Buffer.from('"}'),
    ]);
    case 6: return Buffer.from(`\ufeff${JSON.stringify(valid)}`);
    case 7: return Buffer.from('{"__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}},'
      + '"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}');
    case 8: return Buffer.from('{"model":"gpt-4o","model":"claude-3-haiku","messages":['
      + `${Array(rng.int(5_000)).fill('{"role":"user","content":"hi"}').join(',')}]}`);
    case 9: return rng.bytes(rng.int(2_000));
    case 10: return mutate(rng, Buffer.from(JSON.stringify(valid)));
    default: return Buffer.from(JSON.stringify(valid));
  }
}

/** Gateway requests: endpoints and odd paths, auth and content-type variants, bodies of every shape and framing. */
export const gatewayTarget: FuzzTarget = {
  name: 'gateway',
  service: 'gateway',
  generate(rng: Rng, env: FuzzEnv): Buffer {
    const [method, path, family] = rng.pick(ENDPOINTS);
    let target: string = path;
    if (rng.chance(0.1)) target = rng.pick(['/v1/chat/completions?x=%E0%A4%A', '/v1/chat/completions/', '/v1//messages', '/v1/messages%00', '/', `/v1/${'a'.repeat(20_000)}`, '*', 'http://127.0.0.1/v1/models', '/v1/models/gpt-4o']);
    const headers = ['Host: 127.0.0.1'];
    const auth = rng.int(10);
    if (auth < 6) {
      headers.push(family === 'anthropic' && rng.chance(0.5)
        ? `x-api-key: ${env.clientKey}` : `Authorization: Bearer ${env.clientKey}`);
    } else if (auth < 8) {
      headers.push(rng.pick([
        'Authorization: Bearer wrong', 'Authorization: Bearer', 'Authorization: Basic Zm9v', 'x-api-key: ',
        `Authorization: Bearer ${'k'.repeat(10_000)}`,
      ]));
    }
    if (family === 'anthropic' && rng.chance(0.7)) headers.push('anthropic-version: 2023-06-01');
    if (rng.chance(0.9)) {
      headers.push(rng.pick([
        'Content-Type: application/json', 'Content-Type: application/json', 'Content-Type: text/plain',
        'Content-Type: application/json; charset=latin1', 'Content-Type: ',
      ]));
    }
    if (rng.chance(0.1)) {
      headers.push(rng.pick([
        'Expect: 100-continue', 'Connection: close', 'Content-Encoding: gzip', 'X-Session-Id: \u00ff',
        'x-tidegate-session: a', 'Accept: text/event-stream',
      ]));
    }
    const payload = method === 'GET' && rng.chance(0.8) ? undefined : body(rng, family, env);
    const framing: Framing = payload === undefined ? 'none' : rng.pick([
      'length', 'length', 'length', 'chunked', 'chunked', 'short-length', 'long-length', 'bad-chunked', 'none',
    ]);
    let bytes = rawRequest(rng, {
      method: rng.chance(0.95) ? method : rng.pick(['PUT', 'DELETE', 'HEAD', 'get', 'FOO']),
      target, headers, body: payload, framing,
    });
    if (rng.chance(0.1)) bytes = mutate(rng, bytes, 4 * env.maxBodyBytes);
    return bytes;
  },
};
