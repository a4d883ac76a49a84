import type { Config } from './types.js';

const SECRET_KEYS = new Set(['token', 'keys', 'password', 'passwordHash']);

/** The config with secrets (admin token, API keys, proxy passwords, credentials in URLs) replaced, for printing. */
export function redactConfig(config: Config): unknown {
  return JSON.parse(JSON.stringify(config), (key: string, value: unknown) => {
    if (SECRET_KEYS.has(key)) {
      if (Array.isArray(value)) return value.map(() => '***');
      return value === null ? null : '***';
    }
    if (typeof value === 'string' && /^[a-z0-9+]+:\/\/[^/@\s]+:[^/@\s]+@/i.test(value)) return value.replace(/\/\/[^@]+@/, '//***@');
    return value;
  });
}
