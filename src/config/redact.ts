import type { Config } from './types.js';

const SECRET_KEYS = new Set(['token', 'keys', 'key', 'password', 'passwordHash', 'sha256']);

/** The config with secrets (admin token, API keys, proxy passwords, credentials in URLs) replaced, for printing. */
export function redactConfig(config: Config): unknown {
  return redactValue(config);
}

/** Any part of a config (a user, a service) with its secrets replaced, as JSON data. */
export function redactValue(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), (key: string, v: unknown) => {
    if (SECRET_KEYS.has(key)) {
      if (Array.isArray(v)) return v.map(() => '***');
      return v === null ? null : '***';
    }
    if (typeof v === 'string' && /^[a-z0-9+]+:\/\/[^/@\s]+:[^/@\s]+@/i.test(v)) {
      return v.replace(/\/\/[^@]+@/, '//***@');
    }
    return v;
  });
}
