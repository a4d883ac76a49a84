import type { IncomingHttpHeaders } from 'node:http';
import type { ServiceAccounting } from '../contracts/accounting.js';
import { GatewayAuthError, QuotaExceededError } from '../errors.js';
import type { KeyPolicy, SpendPolicies } from './limits/policies.js';

/** What client auth reads (the GatewayCore). */
export interface AuthSource {
  /** null when no users are configured (the gateway is open). */
  readonly keys: ReadonlyMap<string, string> | null;
  /** The service's `user`, charged for requests of an open gateway. */
  readonly defaultUser: string | null;
  readonly accounting: ServiceAccounting;
  readonly serviceName: string;
  readonly policies: SpendPolicies;
  userForKey(key: string): string | undefined;
}

/** Where auth leaves the key's own policy (a key written as an object with limits, a quota or an expiry). */
export interface KeyHolder {
  key: KeyPolicy | null;
}

/**
 * The user a request is served for (null: an open gateway without a `user`), or the 401 to answer (an unknown or
 * expired key); a key with its own policy is left on `holder`.
 */
export function authenticate(
  source: AuthSource, headers: IncomingHttpHeaders, holder: KeyHolder,
): string | null | GatewayAuthError {
  if (source.keys === null) return source.defaultUser;
  const key = clientKey(headers);
  const user = key === null ? undefined : source.userForKey(key);
  if (user !== undefined) {
    const policy = source.policies.key(key!);
    if (policy === null) return user;
    if (policy.expiresAt !== null && Date.now() >= policy.expiresAt) {
      source.accounting.refused(user, source.serviceName, 'key_expired');
      return new GatewayAuthError(`API key "${policy.name}" has expired`);
    }
    holder.key = policy;
    return user;
  }
  return new GatewayAuthError(key === null
    ? 'missing API key: send "Authorization: Bearer <key>" or "x-api-key: <key>"'
    : 'unknown API key');
}

/** The 429 to answer when the user is over its quota (the refusal is counted), else null. */
export function quotaRefusal(source: AuthSource, user: string | null): QuotaExceededError | null {
  const refusal = source.accounting.check(user);
  if (refusal === null) return null;
  source.accounting.refused(user, source.serviceName, refusal.reason);
  const message = refusal.reason === 'quota_expired'
    ? `user "${refusal.user}" is past its quota expiry`
    : refusal.reason === 'user_disabled'
      ? `user "${refusal.user}" is disabled`
      : `user "${refusal.user}" has used its quota for this period`;
  return new QuotaExceededError(message, refusal.reason);
}

/** `Authorization: Bearer <key>` or `x-api-key: <key>`. */
function clientKey(headers: IncomingHttpHeaders): string | null {
  const auth = headers.authorization;
  if (typeof auth === 'string' && auth.length > 7 && (auth.startsWith('Bearer ') || auth.startsWith('bearer '))) {
    return auth.slice(7).trim();
  }
  const x = headers['x-api-key'];
  if (typeof x === 'string' && x.length > 0) return x;
  // Google's SDKs send their key in x-goog-api-key.
  const goog = headers['x-goog-api-key'];
  if (typeof goog === 'string' && goog.length > 0) return goog;
  return null;
}
