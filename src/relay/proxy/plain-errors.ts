import {
  ConnectTimeoutError,
  DestinationDeniedError,
  HttpRefusal,
  ProxyAuthError,
  ProxyRequestError,
  QuotaExceededError,
  TidegateError,
  UpstreamUnavailableError,
} from '../../errors.js';

/** The challenge of a 407. */
export const REALM = 'Basic realm="tidegate"';

/** Status, reason phrase and extra fields of an error answer. */
export function errorStatus(err: Error): [number, string, Record<string, string>] {
  const e = err as NodeJS.ErrnoException;
  if (err instanceof ProxyAuthError) return [407, 'Proxy Authentication Required', { 'proxy-authenticate': REALM }];
  if (err instanceof ProxyRequestError) return [err.status, 'Bad Request', {}];
  if (err instanceof HttpRefusal) return [err.status, 'Bad Request', {}];
  if (err instanceof QuotaExceededError) return [429, 'Too Many Requests', {}];
  if (err instanceof DestinationDeniedError) return [403, 'Forbidden', {}];
  if (e.code === ConnectTimeoutError.code || e.code === 'ETIMEDOUT') return [504, 'Gateway Timeout', {}];
  return [502, 'Bad Gateway', {}];
}

/** Our errors carry their class's code; a socket error is the destination being unreachable. */
export function errorCode(err: Error): string {
  if (err instanceof TidegateError) return err.code;
  return UpstreamUnavailableError.code;
}

export function errorMessage(err: Error): string {
  if (err instanceof TidegateError && !(err instanceof ConnectTimeoutError)) return err.message;
  const e = err as NodeJS.ErrnoException;
  if (e.code === ConnectTimeoutError.code) return err.message;
  return `cannot reach the destination: ${e.code ?? err.message}`;
}
