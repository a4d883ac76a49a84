import type { IncomingMessage } from 'node:http';
import { ProxyRequestError, UpstreamProxyError } from '../../errors.js';
import { hostAgrees, parseAbsoluteUri, type AbsoluteTarget } from './absolute-uri.js';
import type { Parse } from './handshake-reader.js';
import { parseAuthority } from './http-connect.js';
import type { Routed } from './route-destination.js';
import type { Destination } from './socks5.js';
import { PinnedRoute, type UpstreamProxy } from './upstreams/upstream-proxy.js';

/** The request's absolute URI taken apart, its Host field checked against it (one Host at most). */
export function requestTarget(req: IncomingMessage): AbsoluteTarget {
  const target = parseAbsoluteUri(req.url ?? '');
  if (typeof target === 'string') throw new ProxyRequestError(target);
  let hosts = 0;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue;
    if (++hosts > 1) throw new ProxyRequestError('more than one Host field');
    if (!hostAgrees(raw[i + 1]!, target)) {
      const shown = JSON.stringify(raw[i + 1]!.slice(0, 80));
      throw new ProxyRequestError(`the Host field ${shown} disagrees with the URI's ${target.authority}`);
    }
  }
  return target;
}

/** A CONNECT's authority as a destination. */
export function connectTarget(req: IncomingMessage): Destination {
  return parseAuthority(req.url ?? '');
}

/**
 * Picks once (a round-robin group turns once per request) how a request goes upstream: `proxy`, the upstream HTTP
 * proxy it goes to with its absolute URI, when the first proxy in the route's order speaks HTTP; else null, and
 * `routed` pinned to that order for a tunnel. Direct routes come back as they are.
 */
export function pick(routed: Routed): { proxy: UpstreamProxy | null; routed: Routed } {
  const route = routed.upstream;
  if (route === null) return { proxy: null, routed };
  const order = route.order();
  const first = order[0];
  if (first !== undefined && first.speaksHttp) return { proxy: first, routed };
  return { proxy: null, routed: { ...routed, upstream: new PinnedRoute(route.name, order) } };
}

/** An origin's answer to an upgrade request: its status and its raw head (passed on unchanged). */
export interface ResponseHead {
  readonly status: number;
  readonly head: Buffer;
}

const HEAD_END = Buffer.from('\r\n\r\n');

export const parseResponseHead: Parse<ResponseHead> = (b) => {
  const end = b.indexOf(HEAD_END);
  if (end < 0) return null;
  const lineEnd = b.indexOf('\r\n');
  const line = b.toString('latin1', 0, lineEnd);
  const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(line);
  if (!m) throw new UpstreamProxyError(`the origin answered ${JSON.stringify(line.slice(0, 80))}`);
  return { value: { status: Number(m[1]), head: Buffer.from(b.subarray(0, end + 4)) }, used: end + 4 };
};
