import { ConfigError, type ConfigIssue } from '../errors.js';
import { formatHostPort } from '../util/address.js';
import { exposures } from './exposure.js';
import { readServices } from './sections/services.js';
import { readUsers } from './sections/users.js';
import type { Config, ServiceConfig, UserConfig } from './types.js';
import { deepFreeze, Reader } from './validator.js';

/*
 * One item of a validated config changed (an admin API call): the item goes through the same reader as in a whole
 * config, then every check that spans items is run for it, so the cost of a call does not grow with the number of
 * users. validateConfig stays the reference: a check across items added there belongs here too
 * (test/config/item-change.test.ts compares both on every kind of change).
 */

/**
 * `config` with one user put (added at `at` = the end, or replacing the user at `at`) or removed (`doc` null). The
 * checks across items: unique id, keys, key hashes and proxy username; the budget's currency; services naming the
 * user; proxies with `auth: users` still having a login. Issues carry the whole config's paths
 * (`users[12].quota.bytes`). Unchanged users keep their frozen objects, so a reload's diff and accounting see them
 * as the same at once.
 */
export function withUser(
  config: Config, id: string, doc: Readonly<Record<string, unknown>> | null, at: number, source?: string,
): Config {
  const issues: ConfigIssue[] = [];
  const replacing = at < config.users.length;
  let user: UserConfig | null = null;
  if (doc !== null) {
    const r = new Reader();
    user = readUsers(r, [doc])[0]!;
    const prefix = `users[${at}]`;
    relocate(r.issues, 'users[0]', prefix, issues);
    checkAcross(config.users, replacing ? at : -1, user, prefix, issues);
    checkCurrency(config, user, prefix, issues);
  }
  const users = [...config.users];
  if (user === null) users.splice(at, 1);
  else if (replacing) users[at] = user;
  else users.push(user);
  checkServices(config, users, id, issues);
  if (issues.length > 0) throw new ConfigError(issues, source);
  return deepFreeze({ ...config, users });
}

/** Id, keys, key hashes and proxy username unique across users (every user but the one at `skip`). */
function checkAcross(
  users: readonly UserConfig[], skip: number, user: UserConfig, prefix: string, issues: ConfigIssue[],
): void {
  const keys = new Set(user.keys);
  const hashes = new Set(user.keyHashes.map((k) => k.sha256));
  const username = user.proxy?.username ?? null;
  for (let i = 0; i < users.length; i++) {
    if (i === skip) continue;
    const other = users[i]!;
    if (other.id === user.id) issues.push({ path: `${prefix}.id`, message: `duplicate user id "${user.id}"` });
    for (const key of other.keys) {
      if (!keys.has(key)) continue;
      const j = user.keys.indexOf(key);
      issues.push({ path: `${prefix}.keys[${j}]`, message: `key is already used by user "${other.id}"` });
    }
    for (const k of other.keyHashes) {
      if (!hashes.has(k.sha256)) continue;
      const j = user.keyHashes.findIndex((h) => h.sha256 === k.sha256);
      issues.push({ path: `${prefix}.keyHashes[${j}].sha256`, message: 'key hash is already used' });
    }
    if (username !== null && other.proxy !== null && other.proxy.username === username) {
      issues.push({
        path: `${prefix}.proxy.username`, message: `username is already used by user "${other.id}"`,
      });
    }
  }
}

/** A cost budget is in the prices' one currency (as validateConfig checks it). */
function checkCurrency(config: Config, user: UserConfig, prefix: string, issues: ConfigIssue[]): void {
  const q = user.quota;
  if (q === null || q.costCurrency === null) return;
  const currency = config.pricing.currency;
  const path = `${prefix}.quota.cost`;
  if (currency === null) issues.push({ path, message: 'a cost budget needs prices (prices: or pricesFile:)' });
  else if (q.costCurrency !== currency) {
    issues.push({ path, message: `the budget is in ${q.costCurrency} but prices are in ${currency}` });
  }
}

/** Services that name a user must find it; a proxy with `auth: users` needs some user with a login. */
function checkServices(config: Config, users: readonly UserConfig[], id: string, issues: ConfigIssue[]): void {
  const present = users.some((u) => u.id === id);
  let anyLogin: boolean | null = null;
  config.services.forEach((service, i) => {
    if (service.user === id && !present) {
      issues.push({ path: `services[${i}].user`, message: `unknown user "${id}" (not in users[])` });
    }
    if (service.type === 'proxy' && service.auth === 'users') {
      anyLogin ??= users.some((u) => u.proxy !== null);
      if (!anyLogin) {
        const message = 'auth: users needs at least one users[].proxy login, got none';
        issues.push({ path: `services[${i}].auth`, message });
      }
    }
  });
}

/**
 * `config` with one service put (added at the end, or replacing the service at `at`) or removed (`doc` null). The
 * checks across items: unique name and listen address, a known user, a login for `auth: users` (the reader's own,
 * given the users), and the exposure rule for this service.
 */
export function withService(
  config: Config, doc: Readonly<Record<string, unknown>> | null, at: number, source?: string,
): Config {
  const issues: ConfigIssue[] = [];
  const replacing = at < config.services.length;
  const services = [...config.services];
  if (doc === null) {
    services.splice(at, 1);
  } else {
    const r = new Reader();
    const read = readServices(r, [doc], config.users);
    const prefix = `services[${at}]`;
    relocate(r.issues, 'services[0]', prefix, issues);
    const service = read[0];
    if (service !== undefined) {
      checkServiceAcross(config.services, replacing ? at : -1, service, prefix, issues);
      for (const e of exposures({ admin: config.admin, services: [service] })) {
        if (!e.allowed && e.path !== 'admin.listen') issues.push({ path: `${prefix}.listen`, message: e.message });
      }
      if (replacing) services[at] = service;
      else services.push(service);
    }
  }
  if (issues.length > 0) throw new ConfigError(issues, source);
  return deepFreeze({ ...config, services });
}

/** Name and listen address unique across services (every service but the one at `skip`). */
function checkServiceAcross(
  services: readonly ServiceConfig[], skip: number, service: ServiceConfig, prefix: string, issues: ConfigIssue[],
): void {
  const listen = formatHostPort(service.listen);
  for (let i = 0; i < services.length; i++) {
    if (i === skip) continue;
    const other = services[i]!;
    if (other.name === service.name) {
      issues.push({ path: `${prefix}.name`, message: `duplicate service name "${service.name}"` });
    }
    if (service.listen.port !== 0 && formatHostPort(other.listen) === listen) {
      issues.push({ path: `${prefix}.listen`, message: `${listen} is already used by service "${other.name}"` });
    }
  }
}

/** Issues of a one-item list read on its own, moved to the item's place in the whole config. */
function relocate(from: readonly ConfigIssue[], readAt: string, prefix: string, into: ConfigIssue[]): void {
  for (const issue of from) {
    const path = issue.path.startsWith(readAt) ? prefix + issue.path.slice(readAt.length) : issue.path;
    into.push({ path, message: issue.message });
  }
}
