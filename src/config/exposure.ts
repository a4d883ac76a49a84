import { parseIp } from '../util/ip.js';
import { formatHostPort, type HostPort } from '../util/address.js';

/** A listener anyone who reaches the host can use; `allowed` when the config says it is intended. */
export interface Exposure {
  readonly path: string;
  /** What is open, and how to close it or declare it intended (the validation error). */
  readonly message: string;
  /** What is open (the runtime's warning when allowed). */
  readonly warning: string;
  readonly allowed: boolean;
}

/** The parts of a validated config that decide exposure (structural: only the fields it reads). */
interface ExposedConfig {
  readonly admin: {
    readonly listen: HostPort | null; readonly token: string | null; readonly tokens?: readonly unknown[];
    readonly allowNoToken: boolean;
  };
  readonly services: readonly {
    readonly type: string;
    readonly listen: HostPort;
    readonly allowOpen?: boolean;
    readonly auth?: string;
  }[];
}

/**
 * Listeners on a non-loopback address that nobody has to authenticate to: proxy services without `auth: users`
 * and a tokenless admin API. Refused by the validator unless allowed (`allowOpen: true`, `admin.allowNoToken:
 * true`); the runtime warns about the allowed ones at every start and reload.
 */
export function exposures(config: ExposedConfig): Exposure[] {
  const out: Exposure[] = [];
  const { admin } = config;
  const tokenless = admin.token === null && (admin.tokens?.length ?? 0) === 0;
  if (admin.listen !== null && tokenless && !isLoopbackHost(admin.listen.host)) {
    const warning = `the admin API on ${formatHostPort(admin.listen)} (not loopback) has no token: ` +
      'anyone who reaches it can reload and read the config';
    out.push({
      path: 'admin.listen', warning,
      message: `${warning}; set admin.token, or admin.allowNoToken: true if that is intended`,
      allowed: admin.allowNoToken,
    });
  }
  config.services.forEach((service, i) => {
    if (service.type !== 'proxy' || service.auth === 'users' || isLoopbackHost(service.listen.host)) return;
    const warning =
      `a proxy on ${formatHostPort(service.listen)} (not loopback) without client authentication is an open proxy`;
    out.push({
      path: `services[${i}].listen`, warning,
      message: `${warning}; listen on 127.0.0.1, or set allowOpen: true if that is intended`,
      allowed: service.allowOpen === true,
    });
  });
  return out;
}

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`; wildcards and other names are not. */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const key = parseIp(host);
  if (key === null) return false;
  return key.v === 4 ? key.n >>> 24 === 127 : key.hex === `${'0'.repeat(31)}1`;
}
