import { DEFAULTS } from '../defaults.js';
import type { AdminConfig } from '../types.js';
import type { Reader } from '../validator.js';

/** `admin:`: where the admin API listens (or `off`) and its token. */
export function readAdmin(r: Reader, value: unknown): AdminConfig {
  const o = r.object('admin', value, ['listen', 'token', 'allowNoToken']);
  const off = o.listen === 'off' || o.listen === false;
  const listen = off ? null : r.hostPort('admin.listen', o.listen ?? DEFAULTS.admin.listen);
  const token = r.string('admin.token', o.token, DEFAULTS.admin.token);
  const allowNoToken = r.boolean('admin.allowNoToken', o.allowNoToken, DEFAULTS.admin.allowNoToken);
  return { listen, token: token === '' ? null : token, allowNoToken };
}
