import type { Rng } from './rng.js';

/** How a body is framed: honest content-length, a wrong one, chunked (with odd chunks), or none at all. */
export type Framing = 'length' | 'short-length' | 'long-length' | 'chunked' | 'bad-chunked' | 'none';

export interface RawRequest {
  readonly method: string;
  readonly target: string;
  readonly version?: string;
  readonly headers: readonly string[];
  readonly body?: Buffer;
  readonly framing?: Framing;
}

/** Writes a request by hand, so that anything (bad framing, bare LF, NULs) can be sent. */
export function rawRequest(rng: Rng, r: RawRequest): Buffer {
  const body = r.body ?? Buffer.alloc(0);
  const framing = r.framing ?? (body.length > 0 ? 'length' : 'none');
  const headers = [...r.headers];
  let payload = body;
  switch (framing) {
    case 'length':
      headers.push(`Content-Length: ${body.length}`);
      break;
    case 'short-length':
      headers.push(`Content-Length: ${Math.max(0, body.length - 1 - rng.int(10))}`);
      break;
    case 'long-length':
      headers.push(`Content-Length: ${body.length + 1 + rng.int(1_000)}`);
      break;
    case 'chunked':
      headers.push('Transfer-Encoding: chunked');
      payload = chunked(rng, body, false);
      break;
    case 'bad-chunked':
      headers.push(rng.pick([
        'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked, gzip', 'Transfer-Encoding: identity, chunked',
      ]));
      if (rng.chance(0.3)) headers.push(`Content-Length: ${body.length}`);
      payload = chunked(rng, body, true);
      break;
    case 'none':
      break;
  }
  const head = `${r.method} ${r.target} ${r.version ?? 'HTTP/1.1'}\r\n${headers.join('\r\n')}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), payload]);
}

function chunked(rng: Rng, body: Buffer, odd: boolean): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    const size = Math.min(body.length - at, 1 + rng.int(4_096));
    let sizeLine = size.toString(16);
    if (odd && rng.chance(0.2)) {
      sizeLine = rng.pick(['-1', 'zz', 'ffffffffffffffff', `${sizeLine};ext=1`, `${sizeLine} `, '', `0${sizeLine}`]);
    }
    parts.push(
      Buffer.from(`${sizeLine}\r\n`, 'latin1'), body.subarray(at, at + size),
      Buffer.from(odd && rng.chance(0.1) ? '\n' : '\r\n'),
    );
    at += size;
  }
  if (!odd || rng.chance(0.5)) {
    parts.push(Buffer.from(odd && rng.chance(0.5) ? '0\r\nX-Trailer: 1\r\n\r\n' : '0\r\n\r\n'));
  }
  return Buffer.concat(parts);
}
