import type { HostPort } from '../../util/address.js';
import { DEFAULTS } from '../defaults.js';
import type { ForwardServiceConfig } from '../types.js';
import { join, type Reader } from '../validator.js';
import { BASE_KEYS, readBase, readTcpTuning, TCP_KEYS } from './service-base.js';

export const STRATEGIES = ['round-robin', 'random', 'least-connections', 'failover'] as const;

/** The keys of a forward service beyond the base and TCP ones. */
export const FORWARD_KEYS = ['targets', 'strategy', 'targetBackoff', 'proxyProtocol'];

export const PROXY_PROTOCOL_VERSIONS = ['v1', 'v2'] as const;

/** A `type: forward` service: TCP to one of its targets. */
export function readForward(r: Reader, path: string, raw: Record<string, unknown>): ForwardServiceConfig {
  const o = r.object(path, raw, [...BASE_KEYS, ...TCP_KEYS, ...FORWARD_KEYS]);
  const base = readBase(r, path, o);
  const targets = r.list(join(path, 'targets'), o.targets)
    .map((t, i) => r.hostPort(join(join(path, 'targets'), i), t))
    .filter((t): t is HostPort => t !== null);
  if (!Array.isArray(o.targets) || o.targets.length === 0) {
    r.fail(join(path, 'targets'), 'expected at least one target host:port');
  }
  return {
    ...base,
    type: 'forward',
    targets,
    strategy: r.oneOf(join(path, 'strategy'), o.strategy, STRATEGIES, DEFAULTS.forward.strategy),
    ...readTcpTuning(r, path, o),
    targetBackoffMs: r.duration(join(path, 'targetBackoff'), o.targetBackoff, DEFAULTS.forward.targetBackoffMs),
    proxyProtocol: o.proxyProtocol === undefined || o.proxyProtocol === null || o.proxyProtocol === false
      ? null
      : r.oneOf(join(path, 'proxyProtocol'), o.proxyProtocol, PROXY_PROTOCOL_VERSIONS, 'v2'),
  };
}
