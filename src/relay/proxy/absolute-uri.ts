import { isIP } from 'node:net';
import { isHostName } from './host-name.js';

/** A plain proxy request's target: `http://host[:port]/path?query` taken apart. */
export interface AbsoluteTarget {
  /** A host name, an IPv4 address or an IPv6 address (without brackets). */
  readonly host: string;
  readonly port: number;
  /** Origin-form: `/path?query` (at least `/`). */
  readonly path: string;
  /** `host[:port]` as the Host field must say it (brackets around IPv6). */
  readonly authority: string;
}

const PORT_RE = /^[1-9]\d{0,4}$/;
/** Visible ASCII only: anything else must be percent-encoded (RFC 3986); no fragment. */
const PATH_RE = /^[\x21-\x22\x24-\x7e]*$/;

/**
 * `http://host[:port][/path][?query]` → its parts, or a sentence saying what is wrong. Strict: scheme `http`
 * (any case), no userinfo, a valid host name, IPv4 or `[IPv6]` literal, a port 1-65535, a path of visible ASCII
 * without a fragment. `https://` is not forwarded in the clear: a client sends CONNECT for it.
 */
export function parseAbsoluteUri(target: string): AbsoluteTarget | string {
  const shown = JSON.stringify(target.slice(0, 120));
  if (target.length < 8 || target.slice(0, 7).toLowerCase() !== 'http://') {
    if (target.slice(0, 8).toLowerCase() === 'https://') return `https:// is reached with CONNECT, got ${shown}`;
    return `expected an absolute URI (http://host/path) or CONNECT host:port, got ${shown}`;
  }
  let end = 7;
  while (end < target.length) {
    const c = target.charCodeAt(end);
    if (c === 0x2f || c === 0x3f || c === 0x23) break;
    end++;
  }
  const authority = target.slice(7, end);
  const rest = target.slice(end);
  if (authority.includes('@')) return `credentials in the URI are not accepted, got ${shown}`;
  const hostPort = parseHostPort(authority, 80);
  if (hostPort === null) return `expected http://host[:port]/… with a valid host and port 1-65535, got ${shown}`;
  if (!PATH_RE.test(rest)) return `the URI's path has spaces, control, non-ASCII or "#" characters: ${shown}`;
  const path = rest === '' ? '/' : rest[0] === '?' ? `/${rest}` : rest;
  const { host, port } = hostPort;
  const bracketed = isIP(host) === 6 ? `[${host}]` : host;
  return { host, port, path, authority: port === 80 ? bracketed : `${bracketed}:${port}` };
}

/** `host[:port]` or `[v6][:port]` → its parts (port `fallback` when absent), or null when malformed. */
export function parseHostPort(text: string, fallback: number): { host: string; port: number } | null {
  let host: string;
  let portText: string | null;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return null;
    host = text.slice(1, close);
    const after = text.slice(close + 1);
    if (after !== '' && after[0] !== ':') return null;
    portText = after === '' ? null : after.slice(1);
    if (isIP(host) !== 6 || host.includes('%')) return null;
  } else {
    const colon = text.indexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? null : text.slice(colon + 1);
    if (!isHostName(host)) return null;
  }
  if (portText === null) return { host, port: fallback };
  if (!PORT_RE.test(portText) || Number(portText) > 65535) return null;
  return { host, port: Number(portText) };
}

/** Whether a Host field names the URI's host and port (case-insensitive; the default port may be left out). */
export function hostAgrees(field: string, target: AbsoluteTarget): boolean {
  const parsed = parseHostPort(field.trim(), 80);
  if (parsed === null || parsed.port !== target.port) return false;
  return stripDot(parsed.host.toLowerCase()) === stripDot(target.host.toLowerCase());
}

function stripDot(host: string): string {
  return host.endsWith('.') ? host.slice(0, -1) : host;
}
