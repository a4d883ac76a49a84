import { DEFAULTS } from '../defaults.js';
import type { ForwardServiceConfig, ForwardTarget, TargetHealthConfig } from '../types.js';
import { join, type Reader } from '../validator.js';
import { BASE_KEYS, readBase, readTcpTuning, TCP_KEYS } from './service-base.js';

export const STRATEGIES = ['round-robin', 'random', 'least-connections', 'failover', 'source-hash'] as const;

/** The keys of a forward service beyond the base and TCP ones. */
export const FORWARD_KEYS = ['targets', 'strategy', 'targetBackoff', 'proxyProtocol', 'health'];

export const PROXY_PROTOCOL_VERSIONS = ['v1', 'v2'] as const;

const HEALTH_TYPES = ['tcp', 'send-expect'] as const;

/** A `type: forward` service: TCP to one of its targets. */
export function readForward(r: Reader, path: string, raw: Record<string, unknown>): ForwardServiceConfig {
  const o = r.object(path, raw, [...BASE_KEYS, ...TCP_KEYS, ...FORWARD_KEYS]);
  const base = readBase(r, path, o);
  const targets = r.list(join(path, 'targets'), o.targets)
    .map((t, i) => readTarget(r, join(join(path, 'targets'), i), t))
    .filter((t): t is ForwardTarget => t !== null);
  if (!Array.isArray(o.targets) || o.targets.length === 0) {
    r.fail(join(path, 'targets'), 'expected at least one target host:port');
  } else if (targets.length > 0 && targets.every((t) => t.backup)) {
    r.fail(join(path, 'targets'), 'expected at least one target that is not a backup');
  }
  return {
    ...base,
    type: 'forward',
    targets,
    strategy: r.oneOf(join(path, 'strategy'), o.strategy, STRATEGIES, DEFAULTS.forward.strategy),
    health: readHealth(r, join(path, 'health'), o.health),
    ...readTcpTuning(r, path, o),
    targetBackoffMs: r.duration(join(path, 'targetBackoff'), o.targetBackoff, DEFAULTS.forward.targetBackoffMs),
    proxyProtocol: o.proxyProtocol === undefined || o.proxyProtocol === null || o.proxyProtocol === false
      ? null
      : r.oneOf(join(path, 'proxyProtocol'), o.proxyProtocol, PROXY_PROTOCOL_VERSIONS, 'v2'),
  };
}

/** `"host:port"` or `{ address, weight?, backup? }`. */
function readTarget(r: Reader, path: string, value: unknown): ForwardTarget | null {
  if (typeof value === 'string') {
    const hp = r.hostPort(path, value);
    return hp === null ? null : { ...hp, weight: 1, backup: false };
  }
  const o = r.object(path, value, ['address', 'weight', 'backup']);
  const hp = r.hostPort(join(path, 'address'), o.address);
  const weight = r.integer(join(path, 'weight'), o.weight, 1, 1, 1000);
  const backup = r.boolean(join(path, 'backup'), o.backup, false);
  return hp === null ? null : { ...hp, weight, backup };
}

/** `health: { interval, timeout, rise, fall, type, send, expect }`; absent or false: no active checks. */
function readHealth(r: Reader, path: string, value: unknown): TargetHealthConfig | null {
  if (value === undefined || value === null || value === false) return null;
  const d = DEFAULTS.targetHealth;
  const o = r.object(path, value, ['interval', 'timeout', 'rise', 'fall', 'type', 'send', 'expect']);
  const type = r.oneOf(join(path, 'type'), o.type, HEALTH_TYPES, d.type);
  const send = r.string(join(path, 'send'), o.send, '');
  const expect = r.string(join(path, 'expect'), o.expect, '');
  if (type === 'send-expect' && expect === '') r.fail(join(path, 'expect'), 'send-expect needs the text to expect');
  const intervalMs = r.duration(join(path, 'interval'), o.interval, d.intervalMs);
  if (intervalMs < 10) r.fail(join(path, 'interval'), 'expected an interval of at least 10ms');
  return {
    intervalMs,
    timeoutMs: r.duration(join(path, 'timeout'), o.timeout, d.timeoutMs),
    rise: r.integer(join(path, 'rise'), o.rise, d.rise, 1, 100),
    fall: r.integer(join(path, 'fall'), o.fall, d.fall, 1, 100),
    type,
    send,
    expect,
  };
}
