import { parseCidr } from '../../util/cidr.js';
import type { AcceptProxyProtocolConfig, PerIpConfig } from '../types.js';
import { join, type Reader } from '../validator.js';

/** How long a trusted peer has to send its PROXY header when `acceptProxyProtocol.timeout` is not given. */
const HEADER_TIMEOUT_MS = 3_000;

/** `acceptProxyProtocol: { from: [CIDR], timeout }`: who may tell us the real client address; null when absent. */
export function readAcceptProxyProtocol(r: Reader, path: string, value: unknown): AcceptProxyProtocolConfig | null {
  if (value === undefined || value === null) return null;
  const o = r.object(path, value, ['from', 'timeout']);
  const from = r.list(join(path, 'from'), o.from).map((item, i) => {
    const at = join(join(path, 'from'), i);
    if (typeof item !== 'string') {
      r.fail(at, 'expected a CIDR string such as "127.0.0.1/32"');
      return '';
    }
    const range = parseCidr(item);
    if (typeof range === 'string') r.fail(at, range);
    return item;
  });
  if (from.length === 0) r.fail(join(path, 'from'), 'expected at least one trusted CIDR');
  return { from, timeoutMs: r.duration(join(path, 'timeout'), o.timeout, HEADER_TIMEOUT_MS) };
}

/**
 * `perIp: { maxConnections, connectRate, rate }`: limits per client address; null when absent. `rate` is bytes per
 * second on forward and proxy services (`10MiB/s`), requests per second on a gateway.
 */
export function readPerIp(r: Reader, path: string, value: unknown, rate: 'bytes' | 'requests'): PerIpConfig | null {
  if (value === undefined || value === null) return null;
  const o = r.object(path, value, ['maxConnections', 'connectRate', 'rate']);
  return {
    maxConnections: r.integer(join(path, 'maxConnections'), o.maxConnections, 0, 0, 10_000_000),
    connectRate: r.number(join(path, 'connectRate'), o.connectRate, 0, 0, 10_000_000),
    rate: rate === 'bytes'
      ? r.rate(join(path, 'rate'), o.rate, 0)
      : r.number(join(path, 'rate'), o.rate, 0, 0, 10_000_000),
  };
}
