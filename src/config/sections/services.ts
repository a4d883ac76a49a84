import { formatHostPort } from '../../util/address.js';
import type { ServiceConfig, UserConfig } from '../types.js';
import { join, type Reader } from '../validator.js';
import { readForward } from './forward.js';
import { readGateway } from './gateway.js';
import { readProxy } from './proxy.js';

const SERVICE_TYPES = ['forward', 'proxy', 'gateway'] as const;

/** `services:`: each read by its type's reader; names and listen addresses unique, users known. */
export function readServices(r: Reader, value: unknown, users: readonly UserConfig[]): ServiceConfig[] {
  const names = new Set<string>();
  const listens = new Map<string, string>();
  const userIds = new Set(users.map((u) => u.id));
  const services: ServiceConfig[] = [];
  r.list('services', value).forEach((item, i) => {
    const path = join('services', i);
    const raw = item && typeof item === 'object' && !Array.isArray(item) ? (item as Record<string, unknown>) : {};
    if (raw !== item) {
      r.fail(path, `expected a service object, got ${JSON.stringify(item)}`);
      return;
    }
    // `forward` only stands in for a missing or bad type so the rest of the service is still checked.
    const type = r.oneOf(join(path, 'type'), raw.type, SERVICE_TYPES, 'forward');
    if (raw.type === undefined) {
      r.fail(join(path, 'type'), `expected one of "forward", "proxy", "gateway", got nothing`);
    }
    const service = type === 'forward'
      ? readForward(r, path, raw)
      : type === 'proxy' ? readProxy(r, path, raw) : readGateway(r, path, raw);
    if (service.name) {
      if (names.has(service.name)) r.fail(join(path, 'name'), `duplicate service name "${service.name}"`);
      names.add(service.name);
    }
    if (service.user !== null && !userIds.has(service.user)) {
      r.fail(join(path, 'user'), `unknown user "${service.user}" (not in users[])`);
    }
    if (service.type === 'proxy' && service.auth === 'users') {
      if (service.user !== null) {
        r.fail(join(path, 'user'), 'a proxy with auth: users charges each client\'s own user; leave user out');
      }
      if (!users.some((u) => u.proxy !== null)) {
        r.fail(join(path, 'auth'), 'auth: users needs at least one users[].proxy login, got none');
      }
    }
    if (service.listen) {
      const key = formatHostPort(service.listen);
      const other = listens.get(key);
      if (other !== undefined && service.listen.port !== 0) {
        r.fail(join(path, 'listen'), `${key} is already used by service "${other}"`);
      }
      listens.set(key, service.name);
    }
    services.push(service);
  });
  return services;
}
