import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Channel } from './channel.js';
import type { UpstreamCredential } from './key-ring.js';

/**
 * An attempt's body: one buffer, or a large client body as node:http read it (undici writes its reads in order, with
 * the declared content-length, without joining them; an array can be written again by a later attempt).
 */
export type UpstreamBody = Buffer | Buffer[];

/** Bytes in a body kept as several buffers. */
export function partsLength(parts: readonly Buffer[]): number {
  let n = 0;
  for (let i = 0; i < parts.length; i++) n += parts[i]!.length;
  return n;
}

const ANTHROPIC_VERSION = '2023-06-01';
const OAUTH_BETA = 'oauth-2025-04-20';

/** The upstream request for one attempt: the channel's path, the client's query, the channel's auth headers. */
export function upstreamRequest(
  channel: Channel, suffix: string, credential: UpstreamCredential, client: IncomingHttpHeaders,
  url: string | undefined, stream: boolean, body: UpstreamBody,
): Dispatcher.DispatchOptions {
  const headers = upstreamHeaders(channel, credential, client, stream);
  if (!Buffer.isBuffer(body)) headers.push('content-length', String(partsLength(body)));
  return {
    // A Gemini URL's query (`alt=sse`) is ours to make: a client's is not passed on to or from Gemini.
    path: channel.basePath + suffix + (channel.kind === 'gemini' ? '' : queryOf(url)),
    method: 'POST',
    headers,
    // undici documents Iterable bodies (docs/api/Dispatcher.md, `body`); its types name fewer kinds.
    body: body as Buffer,
  };
}

/** A health check's headers: the channel's auth (when it has a usable credential), asking for JSON. */
export function probeHeaders(channel: Channel, credential: UpstreamCredential | null): string[] {
  if (credential === null) return ['accept', 'application/json'];
  return upstreamHeaders(channel, credential, NO_HEADERS, false);
}

const NO_HEADERS: IncomingHttpHeaders = {};

function queryOf(url: string | undefined): string {
  if (url === undefined) return '';
  const q = url.indexOf('?');
  return q === -1 ? '' : url.slice(q);
}

/** The upstream request's headers as one flat name/value list (undici takes it as is). */
export function upstreamHeaders(
  channel: Channel, credential: UpstreamCredential, client: IncomingHttpHeaders, stream: boolean,
): string[] {
  const accept = stream ? 'text/event-stream' : 'application/json';
  if (channel.kind === 'gemini') {
    return [
      'content-type', 'application/json', 'accept', accept, 'accept-encoding', 'identity',
      'x-goog-api-key', credential.secret,
    ];
  }
  if (channel.kind === 'openai') {
    return [
      'content-type', 'application/json', 'accept', accept, 'accept-encoding', 'identity',
      'authorization', credential.bearer,
    ];
  }
  const version = typeof client['anthropic-version'] === 'string' ? client['anthropic-version'] : ANTHROPIC_VERSION;
  const beta = client['anthropic-beta'];
  const headers = [
    'content-type', 'application/json', 'accept', accept, 'accept-encoding', 'identity', 'anthropic-version', version,
  ];
  if (credential.oauth) {
    const betas = typeof beta === 'string' ? `${beta},${OAUTH_BETA}` : OAUTH_BETA;
    headers.push('authorization', credential.bearer, 'anthropic-beta', betas);
  } else {
    headers.push('x-api-key', credential.secret);
    if (typeof beta === 'string') headers.push('anthropic-beta', beta);
  }
  return headers;
}
