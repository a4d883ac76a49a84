import { ProxyAuthError } from '../../../errors.js';
import type { Credentials } from './login-directory.js';

const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * `Proxy-Authorization: Basic base64(user:pass)` → the credentials (RFC 7617, UTF-8). A missing field, another
 * scheme, bad base64 or no colon is a ProxyAuthError (answered 407 like a wrong password).
 */
export function parseBasic(value: string | null | undefined): Credentials {
  if (value === null || value === undefined || value === '') {
    throw new ProxyAuthError('proxy credentials required', true);
  }
  const space = value.indexOf(' ');
  const scheme = space < 0 ? value : value.slice(0, space);
  if (scheme.toLowerCase() !== 'basic') throw new ProxyAuthError('expected Proxy-Authorization: Basic', false);
  const token = value.slice(space + 1).trim();
  if (!BASE64_RE.test(token) || token.length % 4 !== 0) {
    throw new ProxyAuthError('Proxy-Authorization: Basic credentials are not base64', false);
  }
  const text = Buffer.from(token, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) throw new ProxyAuthError('Proxy-Authorization: Basic credentials have no ":"', false);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}
