import { DEFAULTS } from '../defaults.js';
import type { QuotaConfig, UserConfig } from '../types.js';
import { join, type Reader } from '../validator.js';
import { readRate } from './rate.js';

/** `users:`: ids and keys unique across the list, each with an optional quota and rate. */
export function readUsers(r: Reader, value: unknown): UserConfig[] {
  const ids = new Set<string>();
  const keys = new Map<string, string>();
  return r.list('users', value).map((item, i) => {
    const path = join('users', i);
    const o = r.object(path, item, ['id', 'quota', 'rate', 'keys']);
    const id = r.requiredString(join(path, 'id'), o.id);
    if (id && ids.has(id)) r.fail(join(path, 'id'), `duplicate user id "${id}"`);
    ids.add(id);
    const userKeys = r.list(join(path, 'keys'), o.keys).map((k, j) => {
      const key = r.requiredString(join(join(path, 'keys'), j), k);
      const owner = keys.get(key);
      if (key && owner !== undefined) r.fail(join(join(path, 'keys'), j), `key is already used by user "${owner}"`);
      keys.set(key, id);
      return key;
    });
    const quota = readQuota(r, join(path, 'quota'), o.quota);
    return { id, quota, rate: readRate(r, join(path, 'rate'), o.rate), keys: userKeys };
  });
}

/** A user's `quota:`; null when absent. */
function readQuota(r: Reader, path: string, value: unknown): QuotaConfig | null {
  if (value === undefined || value === null) return null;
  const o = r.object(path, value, ['bytes', 'direction', 'period', 'timezone', 'expires']);
  const d = DEFAULTS.quota;
  if (o.bytes === undefined) r.fail(join(path, 'bytes'), 'expected a size like 100GiB, got nothing');
  const timezone = r.string(join(path, 'timezone'), o.timezone, d.timezone);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    r.fail(join(path, 'timezone'), `expected an IANA time zone like "UTC" or "Asia/Shanghai", got "${timezone}"`);
  }
  let expiresAt: number | null = d.expiresAt;
  if (o.expires !== undefined && o.expires !== null) {
    const t = o.expires instanceof Date
      ? o.expires.getTime()
      : typeof o.expires === 'string' ? Date.parse(o.expires) : NaN;
    const got = JSON.stringify(o.expires);
    if (!Number.isNaN(t)) expiresAt = t;
    else r.fail(join(path, 'expires'), `expected a date like 2026-12-31 or an ISO timestamp, got ${got}`);
  }
  return {
    bytes: r.size(join(path, 'bytes'), o.bytes, 0),
    direction: r.oneOf(join(path, 'direction'), o.direction, ['total', 'in', 'out'] as const, d.direction),
    period: r.oneOf(join(path, 'period'), o.period, ['none', 'daily', 'monthly'] as const, d.period),
    timezone,
    expiresAt,
  };
}
