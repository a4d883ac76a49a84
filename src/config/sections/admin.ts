import { DEFAULTS } from '../defaults.js';
import type { AdminConfig, AdminTokenConfig } from '../types.js';
import { join, type Reader } from '../validator.js';
import { readPortRange } from './port-range.js';

/** `admin:`: where the admin API listens (or `off`), its tokens and roles, and the port range for `:auto`. */
export function readAdmin(r: Reader, value: unknown): AdminConfig {
  const o = r.object('admin', value, ['listen', 'token', 'tokens', 'allowNoToken', 'portRange']);
  const off = o.listen === 'off' || o.listen === false;
  const listen = off ? null : r.hostPort('admin.listen', o.listen ?? DEFAULTS.admin.listen);
  const token = r.string('admin.token', o.token, DEFAULTS.admin.token);
  const allowNoToken = r.boolean('admin.allowNoToken', o.allowNoToken, DEFAULTS.admin.allowNoToken);
  const tokens: AdminTokenConfig[] = r.list('admin.tokens', o.tokens).map((item, i) => {
    const path = join('admin.tokens', i);
    const t = r.object(path, item, ['token', 'role']);
    return {
      token: r.requiredString(join(path, 'token'), t.token),
      role: r.oneOf(join(path, 'role'), t.role, ['read', 'write'] as const, 'read'),
    };
  });
  const portRange = readAdminPorts(r, o.portRange);
  return { listen, token: token === '' ? null : token, allowNoToken, tokens, portRange };
}

function readAdminPorts(r: Reader, value: unknown): { from: number; to: number } {
  const text = r.string('admin.portRange', value, DEFAULTS.admin.portRange);
  return readPortRange(r, 'admin.portRange', text) ?? parseRange(DEFAULTS.admin.portRange);
}

function parseRange(text: string): { from: number; to: number } {
  const [from, to] = text.split('-').map(Number);
  return { from: from!, to: to! };
}
