import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import {
  EMPTY_OVERLAY, mergeOverlay, type MergedDocument, type Origin, type Overlay, type OverlayConflict,
} from '../config/overlay.js';
import { redactConfig, redactValue } from '../config/redact.js';
import { validateConfig, type Config, type ServiceConfig, type UserConfig } from '../config/schema.js';
import {
  AdminBadRequestError,
  AdminConflictError,
  AdminInvalidError,
  AdminNotFoundError,
  AdminPreconditionError,
  ConfigError,
  ReloadBusyError,
  type ConfigIssue,
} from '../errors.js';
import type { Logger } from '../log.js';
import type { ServiceStatus } from '../contracts/service-status.js';
import type { IssuedKey, OverlayChange, OverlayStore } from '../store/overlay-store.js';
import { formatHostPort } from '../util/address.js';
import type { ReloadResult } from './reload-result.js';

/** What management needs of the runtime (structural, so the runtime class is never imported here). */
export interface ManagementHost {
  readonly config: Config;
  reload(next: Config): Promise<ReloadResult>;
  serviceStatus(name: string): ServiceStatus | undefined;
  closeUser(id: string, reason: string): number;
  resetUsage(id: string): Promise<boolean>;
  publish(type: string, data: Record<string, unknown>): void;
}

export interface Page<T> {
  readonly items: readonly T[];
  /** Pass as `cursor` for the next page; null on the last one. */
  readonly nextCursor: string | null;
}

export interface UserItem {
  readonly id: string;
  readonly origin: Origin;
  /** The user as validated, secrets redacted. */
  readonly config: unknown;
  readonly issuedKeys: readonly { readonly id: string; readonly createdAt: string }[];
}

export interface ServiceItem {
  readonly name: string;
  readonly type: string;
  readonly origin: Origin;
  readonly config: unknown;
  readonly status: ServiceStatus | null;
}

/** An item and its version: `etag` goes out as ETag and comes back as If-Match. */
export interface Versioned<T> {
  readonly item: T;
  readonly etag: string;
}

/** `POST /users/:id/keys`: the only time the key itself is seen. */
export interface IssuedKeyReply {
  readonly id: string;
  readonly user: string;
  readonly key: string;
  readonly createdAt: string;
}

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;
const AUTO_RE = /^(.*):auto$/;
type Section = 'users' | 'services';
const KEY_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** Ports tried for one `:auto` listen before giving up (a busy range does not turn into a scan of it all). */
const MAX_PORT_TRIES = 512;

/**
 * The admin API's users, keys and services: an overlay kept in SQLite on top of the config file. Every change is
 * merged with the file's document, validated whole by the config schema and applied through the runtime's reload
 * (the same diff as a file reload), then stored; an invalid change changes nothing. Changes and file reloads run
 * one at a time, so neither can apply over the other.
 */
export class Management {
  private host!: ManagementHost;
  private readonly store: OverlayStore;
  private readonly log: Logger;
  /** The config file's document (`${ENV}` expanded); null when the runtime was started from a Config alone. */
  private baseDoc: Record<string, unknown> | null;
  private overlay: Overlay = EMPTY_OVERLAY;
  private issued: IssuedKey[] = [];
  private merged: MergedDocument | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(store: OverlayStore, baseDoc: Record<string, unknown> | null, log: Logger) {
    this.store = store;
    this.baseDoc = baseDoc;
    this.log = log;
    const loaded = store.load();
    this.overlay = loaded.overlay;
    this.issued = loaded.keys;
  }

  /** The runtime, once it exists (the initial config is computed before it does). */
  bind(host: ManagementHost): void {
    this.host = host;
  }

  /**
   * The config to start with: the file's plus the overlay. An overlay that no longer fits the file (say the file
   * dropped a user an API service uses) is logged and left out, and the file's config starts alone.
   */
  initialConfig(fileConfig: Config): Config {
    if (this.baseDoc === null) return fileConfig;
    const merged = mergeOverlay(this.baseDoc, this.overlay);
    this.merged = merged;
    this.logConflicts(merged.conflicts);
    const { users, services, keys } = this.overlay;
    if (users.size === 0 && services.size === 0 && keys.size === 0) return fileConfig;
    try {
      return validateConfig(merged.doc, 'config file + admin API overlay');
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.log.error(
        { issues: err.issues }, 'the admin API overlay does not fit the config file; starting with the file alone',
      );
      this.merged = mergeOverlay(this.baseDoc, EMPTY_OVERLAY);
      return fileConfig;
    }
  }

  /** A file reload: the new document plus the overlay, validated and applied like any reload. */
  reloadFile(doc: Record<string, unknown>, source: string): Promise<ReloadResult> {
    return this.exclusive(async () => {
      const merged = mergeOverlay(doc, this.overlay);
      const config = validateConfig(merged.doc, source);
      const result = await this.host.reload(config);
      this.baseDoc = doc;
      this.merged = merged;
      this.logConflicts(merged.conflicts);
      return result;
    });
  }

  /** `GET /config`: the effective config (secrets redacted), each user's and service's origin, and conflicts. */
  configView(): unknown {
    const config = this.host.config;
    const users: Record<string, Origin> = {};
    const services: Record<string, Origin> = {};
    for (const u of config.users) users[u.id] = this.userOrigin(u.id);
    for (const s of config.services) services[s.name] = this.serviceOrigin(s.name);
    return {
      config: redactConfig(config),
      origins: { users, services },
      conflicts: this.merged?.conflicts ?? [],
      overlay: { users: this.overlay.users.size, services: this.overlay.services.size, keys: this.issued.length },
      managed: this.baseDoc !== null,
    };
  }

  // ── users ──────────────────────────────────────────────────────────────────────────────────────────────────

  listUsers(limit: number, cursor: string | null): Page<UserItem> {
    return page(this.host.config.users.map((u) => u.id), limit, cursor, (id) => this.userItem(this.findUser(id)!));
  }

  getUser(id: string): Versioned<UserItem> {
    const user = this.findUser(id);
    if (user === undefined) throw new AdminNotFoundError(`no user "${id}"`);
    return versioned(this.userItem(user));
  }

  createUser(body: Record<string, unknown>): Promise<Versioned<UserItem>> {
    return this.exclusive(async () => {
      const id = typeof body.id === 'string' ? body.id : '';
      if (id !== '' && (this.findUser(id) !== undefined || this.overlay.users.has(id))) {
        throw new AdminConflictError(`user "${id}" already exists`);
      }
      const users = new Map(this.overlay.users).set(id, body);
      await this.change({ ...this.overlay, users }, [{ op: 'put', kind: 'user', name: id, doc: body }], 'users', id);
      this.host.publish('user', { action: 'created', user: id });
      return this.getUser(id);
    });
  }

  patchUser(id: string, patch: Record<string, unknown>, ifMatch: string | undefined): Promise<Versioned<UserItem>> {
    return this.exclusive(async () => {
      const current = this.apiItem('user', id, ifMatch);
      const doc = mergePatch(current, patch) as Record<string, unknown>;
      if (doc.id !== id) throw new AdminInvalidError([{ path: 'id', message: `the id cannot change (it is "${id}")` }]);
      const users = new Map(this.overlay.users).set(id, doc);
      await this.change({ ...this.overlay, users }, [{ op: 'put', kind: 'user', name: id, doc }], 'users', id);
      this.host.publish('user', { action: 'changed', user: id });
      return this.getUser(id);
    });
  }

  /** Removes an API user and its issued keys; its live connections are closed (`user_removed`). */
  deleteUser(id: string, ifMatch: string | undefined): Promise<{ closed: number }> {
    return this.exclusive(async () => {
      this.apiItem('user', id, ifMatch);
      const users = new Map(this.overlay.users);
      users.delete(id);
      const keys = new Map(this.overlay.keys);
      keys.delete(id);
      const changes: OverlayChange[] = [{ op: 'delete', kind: 'user', name: id }, { op: 'deleteKeysOf', user: id }];
      await this.change({ users, services: this.overlay.services, keys }, changes, null, null);
      this.issued = this.issued.filter((k) => k.user !== id);
      const closed = this.host.closeUser(id, 'user_removed');
      this.host.publish('user', { action: 'removed', user: id, closed });
      return { closed };
    });
  }

  /** A new key for the user: the key is in this reply only; SHA-256 is all that is kept. */
  addKey(userId: string, body: Record<string, unknown>): Promise<IssuedKeyReply> {
    return this.exclusive(async () => {
      if (this.findUser(userId) === undefined) throw new AdminNotFoundError(`no user "${userId}"`);
      const id = body.id === undefined ? `k_${randomBytes(6).toString('hex')}` : body.id;
      if (typeof id !== 'string' || !KEY_ID_RE.test(id)) {
        throw new AdminInvalidError([{ path: 'id', message: 'expected letters, digits, "_" or "-" (at most 64)' }]);
      }
      for (const k of Object.keys(body)) {
        if (k !== 'id') throw new AdminInvalidError([{ path: k, message: 'unknown key (expected one of: id)' }]);
      }
      if (this.issued.some((k) => k.id === id)) throw new AdminConflictError(`key id "${id}" is already used`);
      const key = `tg_${randomBytes(24).toString('base64url')}`;
      const sha256 = createHash('sha256').update(key).digest('hex');
      const createdAt = Date.now();
      const issued: IssuedKey = { id, user: userId, sha256, createdAt };
      const keys = new Map(this.overlay.keys).set(userId, [...(this.overlay.keys.get(userId) ?? []), { id, sha256 }]);
      await this.change({ ...this.overlay, keys }, [{ op: 'addKey', key: issued }], null, null);
      this.issued = [...this.issued, issued];
      this.host.publish('key', { action: 'created', user: userId, key: id });
      return { id, user: userId, key, createdAt: new Date(createdAt).toISOString() };
    });
  }

  deleteKey(userId: string, keyId: string): Promise<void> {
    return this.exclusive(async () => {
      const own = this.overlay.keys.get(userId) ?? [];
      if (!own.some((k) => k.id === keyId)) {
        throw new AdminNotFoundError(`user "${userId}" has no issued key "${keyId}"`);
      }
      const keys = new Map(this.overlay.keys).set(userId, own.filter((k) => k.id !== keyId));
      await this.change({ ...this.overlay, keys }, [{ op: 'deleteKey', id: keyId }], null, null);
      this.issued = this.issued.filter((k) => k.id !== keyId);
      this.host.publish('key', { action: 'removed', user: userId, key: keyId });
    });
  }

  async resetUsage(id: string): Promise<void> {
    if (this.findUser(id) === undefined) throw new AdminNotFoundError(`no user "${id}"`);
    await this.host.resetUsage(id);
    this.host.publish('user', { action: 'usage_reset', user: id });
  }

  // ── services ───────────────────────────────────────────────────────────────────────────────────────────────

  listServices(limit: number, cursor: string | null): Page<ServiceItem> {
    const names = this.host.config.services.map((s) => s.name);
    return page(names, limit, cursor, (name) => this.serviceItem(this.findService(name)!));
  }

  getService(name: string): Versioned<ServiceItem> {
    const service = this.findService(name);
    if (service === undefined) throw new AdminNotFoundError(`no service "${name}"`);
    return versioned(this.serviceItem(service));
  }

  createService(body: Record<string, unknown>): Promise<Versioned<ServiceItem>> {
    return this.exclusive(async () => {
      const name = typeof body.name === 'string' ? body.name : '';
      if (name !== '' && (this.findService(name) !== undefined || this.overlay.services.has(name))) {
        throw new AdminConflictError(`service "${name}" already exists`);
      }
      const doc = await this.resolveAutoListen(body);
      const services = new Map(this.overlay.services).set(name, doc);
      await this.change({ ...this.overlay, services }, [{ op: 'put', kind: 'service', name, doc }], 'services', name);
      return this.getService(name);
    });
  }

  patchService(
    name: string, patch: Record<string, unknown>, ifMatch: string | undefined,
  ): Promise<Versioned<ServiceItem>> {
    return this.exclusive(async () => {
      const current = this.apiItem('service', name, ifMatch);
      let doc = mergePatch(current, patch) as Record<string, unknown>;
      if (doc.name !== name) {
        throw new AdminInvalidError([{ path: 'name', message: `the name cannot change (it is "${name}")` }]);
      }
      doc = await this.resolveAutoListen(doc);
      const services = new Map(this.overlay.services).set(name, doc);
      await this.change({ ...this.overlay, services }, [{ op: 'put', kind: 'service', name, doc }], 'services', name);
      return this.getService(name);
    });
  }

  deleteService(name: string, ifMatch: string | undefined): Promise<void> {
    return this.exclusive(async () => {
      this.apiItem('service', name, ifMatch);
      const services = new Map(this.overlay.services);
      services.delete(name);
      await this.change({ ...this.overlay, services }, [{ op: 'delete', kind: 'service', name }], null, null);
    });
  }

  // ── the one way a change is made ───────────────────────────────────────────────────────────────────────────

  /** Runs changes and file reloads one at a time. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Validates the file plus `next` whole, applies it through the runtime's reload and only then stores the change.
   * `section`/`name` locate the item the caller changed, so its issues are reported by the body's own paths and a
   * service that cannot listen is a 409 naming its address.
   */
  private async change(
    next: Overlay, changes: readonly OverlayChange[], section: Section | null, name: string | null,
  ): Promise<void> {
    if (this.baseDoc === null) {
      throw new AdminConflictError(
        'tidegate was started from a config object, not a file: the admin API cannot change it',
      );
    }
    const merged = mergeOverlay(this.baseDoc, next);
    let config: Config;
    try {
      config = validateConfig(merged.doc, 'admin API');
    } catch (err) {
      if (err instanceof ConfigError) throw new AdminInvalidError(bodyIssues(err.issues, merged.doc, section, name));
      throw err;
    }
    let result: ReloadResult;
    try {
      result = await this.host.reload(config);
    } catch (err) {
      if (err instanceof ReloadBusyError) throw new AdminConflictError(err.message);
      throw err;
    }
    const failed = result.failed.find((f) => section === 'services' && f.service === name);
    if (failed !== undefined) {
      throw new AdminConflictError(`service "${name}" cannot listen on ${failed.address}: ${failed.message}`);
    }
    this.store.apply(changes);
    this.overlay = next;
    this.merged = merged;
  }

  /** The stored API document of an item after checking If-Match; file items cannot be changed here (409). */
  private apiItem(kind: 'user' | 'service', name: string, ifMatch: string | undefined): Record<string, unknown> {
    const found = kind === 'user' ? this.findUser(name) : this.findService(name);
    const stored = (kind === 'user' ? this.overlay.users : this.overlay.services).get(name);
    if (found === undefined && stored === undefined) throw new AdminNotFoundError(`no ${kind} "${name}"`);
    const origin = kind === 'user' ? this.userOrigin(name) : this.serviceOrigin(name);
    if (stored === undefined || origin === 'file') {
      throw new AdminConflictError(`${kind} "${name}" is defined in the config file; change it there`);
    }
    if (ifMatch !== undefined && found !== undefined) {
      const item = kind === 'user' ? this.userItem(found as UserConfig) : this.serviceItem(found as ServiceConfig);
      const etag = versioned(item).etag;
      if (!etagMatches(ifMatch, etag)) {
        throw new AdminPreconditionError(`${kind} "${name}" has changed (now ${etag}); read it again`);
      }
    }
    return { ...stored };
  }

  /** `listen: "<host>:auto"` becomes the first port of `admin.portRange` free on that host and in no service. */
  private async resolveAutoListen(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const m = typeof body.listen === 'string' ? AUTO_RE.exec(body.listen) : null;
    if (m === null) return body;
    const host = m[1]!;
    const taken = new Set(this.host.config.services.map((s) => s.listen.port));
    const { from, to } = this.host.config.admin.portRange;
    let tries = 0;
    for (let port = from; port <= to && tries < MAX_PORT_TRIES; port++) {
      if (taken.has(port)) continue;
      tries++;
      if (await portFree(host, port)) return { ...body, listen: formatHostPort({ host, port }) };
    }
    throw new AdminConflictError(`no free port on ${host} in admin.portRange ${from}-${to}`);
  }

  private findUser(id: string): UserConfig | undefined {
    return this.host.config.users.find((u) => u.id === id);
  }

  private findService(name: string): ServiceConfig | undefined {
    return this.host.config.services.find((s) => s.name === name);
  }

  private userOrigin(id: string): Origin {
    return this.merged?.origins.users.get(id) ?? 'file';
  }

  private serviceOrigin(name: string): Origin {
    return this.merged?.origins.services.get(name) ?? 'file';
  }

  private userItem(user: UserConfig): UserItem {
    const issuedKeys = this.issued
      .filter((k) => k.user === user.id)
      .map((k) => ({ id: k.id, createdAt: new Date(k.createdAt).toISOString() }));
    return { id: user.id, origin: this.userOrigin(user.id), config: redactValue(user), issuedKeys };
  }

  private serviceItem(service: ServiceConfig): ServiceItem {
    return {
      name: service.name,
      type: service.type,
      origin: this.serviceOrigin(service.name),
      config: redactValue(service),
      status: this.host.serviceStatus(service.name) ?? null,
    };
  }

  private logConflicts(conflicts: readonly OverlayConflict[]): void {
    for (const c of conflicts) this.log.warn({ path: c.path, kind: c.kind, name: c.name }, c.message);
  }
}

/** The ETag of an item: a hash of what it is (its live status left out, which changes by itself). */
function versioned<T extends UserItem | ServiceItem>(item: T): Versioned<T> {
  const { status: _status, ...stable } = item as T & { status?: unknown };
  const hash = createHash('sha256').update(JSON.stringify(stable)).digest('base64url').slice(0, 22);
  return { item, etag: `"${hash}"` };
}

function etagMatches(ifMatch: string, etag: string): boolean {
  if (ifMatch.trim() === '*') return true;
  return ifMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/** RFC 7386 JSON merge patch: null removes a key, objects merge, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Issues of the changed item by the body's own paths (`quota.bytes`); others keep their config path. */
function bodyIssues(
  issues: readonly ConfigIssue[], doc: Record<string, unknown>, section: Section | null, name: string | null,
): ConfigIssue[] {
  if (section === null) return [...issues];
  const list = Array.isArray(doc[section]) ? (doc[section] as unknown[]) : [];
  const nameKey = section === 'users' ? 'id' : 'name';
  let at = -1;
  for (let i = list.length - 1; i >= 0; i--) {
    const item = list[i] as Record<string, unknown> | null;
    if (item !== null && typeof item === 'object' && item[nameKey] === name) {
      at = i;
      break;
    }
  }
  if (at === -1) return [...issues];
  const prefix = `${section}[${at}]`;
  return issues.map((issue) => {
    if (issue.path === prefix) return { path: '', message: issue.message };
    if (issue.path.startsWith(`${prefix}.`)) {
      return { path: issue.path.slice(prefix.length + 1), message: issue.message };
    }
    return issue;
  });
}

/** One page of `names` (sorted) after `cursor` (the last name of the previous page, base64url). */
function page<T>(names: readonly string[], limit: number, cursor: string | null, item: (name: string) => T): Page<T> {
  const sorted = [...names].sort();
  let start = 0;
  if (cursor !== null) {
    const after = Buffer.from(cursor, 'base64url').toString('utf8');
    start = sorted.findIndex((n) => n > after);
    if (start === -1) start = sorted.length;
  }
  const slice = sorted.slice(start, start + limit);
  const more = start + limit < sorted.length;
  return {
    items: slice.map(item),
    nextCursor: more && slice.length > 0 ? Buffer.from(slice[slice.length - 1]!, 'utf8').toString('base64url') : null,
  };
}

/** `limit` and `cursor` of a list request; 400 for a bad limit. */
export function pageParams(query: URLSearchParams): { limit: number; cursor: string | null } {
  const raw = query.get('limit');
  const limit = raw === null ? DEFAULT_PAGE : Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new AdminBadRequestError(`limit must be an integer from 1 to ${MAX_PAGE}, got "${raw}"`);
  }
  return { limit, cursor: query.get('cursor') };
}

/** Whether `port` on `host` can be bound now (tried and released at once). */
function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}
