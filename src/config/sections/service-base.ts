import { DEFAULTS } from '../defaults.js';
import type { ServiceBase } from '../types.js';
import { join, type Reader } from '../validator.js';
import { readAcceptProxyProtocol, readPerIp } from './client-origin.js';
import { readRate } from './rate.js';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The keys every service type has. */
export const BASE_KEYS = ['name', 'type', 'listen', 'user', 'maxConnections', 'rate'];

/** The TCP tuning keys of forward and proxy services. */
export const TCP_KEYS = [
  'connectTimeout', 'idleTimeout', 'halfCloseTimeout', 'noDelay', 'keepAlive', 'acceptProxyProtocol', 'perIp',
];

export function readBase(r: Reader, path: string, o: Record<string, unknown>): ServiceBase {
  const name = r.requiredString(join(path, 'name'), o.name);
  if (name && !NAME_RE.test(name)) {
    r.fail(join(path, 'name'), `expected letters, digits, "_", "." or "-" (at most 64), got "${name}"`);
  }
  return {
    name,
    // A stand-in when `listen` is bad: the error is recorded and the config is never returned.
    listen: r.hostPort(join(path, 'listen'), o.listen) ?? { host: '127.0.0.1', port: 0 },
    user: r.string(join(path, 'user'), o.user, DEFAULTS.service.user),
    maxConnections:
      r.integer(join(path, 'maxConnections'), o.maxConnections, DEFAULTS.service.maxConnections, 1, 10_000_000),
    rate: readRate(r, join(path, 'rate'), o.rate),
  };
}

export function readTcpTuning(r: Reader, path: string, o: Record<string, unknown>) {
  const d = DEFAULTS.tcp;
  return {
    connectTimeoutMs: r.duration(join(path, 'connectTimeout'), o.connectTimeout, d.connectTimeoutMs),
    idleTimeoutMs: r.duration(join(path, 'idleTimeout'), o.idleTimeout, d.idleTimeoutMs),
    halfCloseTimeoutMs: r.duration(join(path, 'halfCloseTimeout'), o.halfCloseTimeout, d.halfCloseTimeoutMs),
    noDelay: r.boolean(join(path, 'noDelay'), o.noDelay, d.noDelay),
    // `keepAlive: true` is the default delay, `false` is off.
    keepAliveMs: o.keepAlive === false
      ? 0
      : r.duration(join(path, 'keepAlive'), o.keepAlive === true ? undefined : o.keepAlive, d.keepAliveMs),
    acceptProxyProtocol: readAcceptProxyProtocol(r, join(path, 'acceptProxyProtocol'), o.acceptProxyProtocol),
    perIp: readPerIp(r, join(path, 'perIp'), o.perIp, 'bytes'),
  };
}
