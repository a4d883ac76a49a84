import { isIP } from 'node:net';

/** A parsed `host:port`; IPv6 hosts are kept without brackets. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

const HOST_RE = /^[A-Za-z0-9.-]+$/;

/**
 * Parses `host:port`, `[v6]:port` or `:port` (all interfaces). Returns an error message instead of throwing, so
 * the config validator can attach the path.
 */
export function parseHostPort(text: unknown): HostPort | string {
  if (typeof text !== 'string') return `expected host:port, got ${describe(text)}`;
  const value = text.trim();
  let host: string;
  let portText: string;
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    if (end < 0 || value[end + 1] !== ':') return `expected [ipv6]:port, got "${value}"`;
    host = value.slice(1, end);
    portText = value.slice(end + 2);
    if (isIP(host) !== 6) return `expected an IPv6 address in brackets, got "${host}"`;
  } else {
    const colon = value.lastIndexOf(':');
    if (colon < 0) return `expected host:port, got "${value}"`;
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (host.includes(':')) return `expected [ipv6]:port for an IPv6 address, got "${value}"`;
    if (host === '') host = '0.0.0.0';
    if (!HOST_RE.test(host)) return `expected a host name or IP address, got "${host}"`;
  }
  if (!/^\d{1,5}$/.test(portText)) return `expected a port number after the colon, got "${value}"`;
  const port = Number(portText);
  if (port > 65535) return `port must be 0-65535, got ${port}`;
  return { host, port };
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
