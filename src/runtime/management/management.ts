import { createHash, randomBytes } from 'node:crypto';
import { withService, withUser } from '../../config/item-change.js';
import {
  EMPTY_OVERLAY, mergeOverlay, type MergedDocument, type Origin, type Overlay, type OverlayConflict,
} from '../../config/overlay.js';
import { redactConfig, redactValue } from '../../config/redact.js';
import { validateConfig, type Config, type ServiceConfig, type UserConfig } from '../../config/schema.js';
import {
  AdminConflictError,
  AdminInvalidError,
  AdminNotFoundError,
  AdminPreconditionError,
  ConfigError,
  ReloadBusyError,
} from '../../errors.js';
import type { Logger } from '../../log.js';
import type { ServiceStatus } from '../../contracts/service-status.js';
import type { IssuedKey, OverlayChange, OverlayStore } from '../../store/overlay-store.js';
import { mergePatch } from '../../util/merge-patch.js';
import type { ReloadResult } from '../reload-result.js';
import { resolveAutoListen } from './auto-listen.js';
import { bodyIssues, indexOf, type Section } from './body-issues.js';
import {
  etagMatches, versioned, type IssuedKeyReply, type ServiceItem, type UserItem, type Versioned,
} from './items.js';
import { page, type Page } from './paging.js';

/** What management needs of the runtime (structural, so the runtime class is never imported here). */
export interface ManagementHost {
  readonly config: Config;
  reload(next: Config): Promise<ReloadResult>;
  serviceStatus(name: string): ServiceStatus | undefined;
  closeUser(id: string, reason: string): number;
  resetUsage(id: string): Promise<boolean>;
  publish(type: string, data: Record<string, unknown>): void;
}

/**
 * The item a change is about: its checks run alone when the rest is known valid (see config/item-change.ts);
 * `body` says whether its issues are reported by the request body's own paths.
 */
interface Target {
  readonly section: Section;
  readonly name: string;
  readonly body: boolean;
}

const KEY_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

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
  /**
   * The config validated from the file's document plus the overlay as they are now (before the runtime drops what
   * failed to start); null while that is not known (the overlay did not fit at start), so the next change validates
   * whole.
   */
  private validated: Config | null = null;
  /** The config file's path: a relative `pricesFile` is read from its folder. */
  private readonly source: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(store: OverlayStore, baseDoc: Record<string, unknown> | null, log: Logger, source?: string) {
    this.store = store;
    this.baseDoc = baseDoc;
    this.log = log;
    this.source = source;
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
    if (users.size === 0 && services.size === 0 && keys.size === 0) {
      this.validated = fileConfig;
      return fileConfig;
    }
    try {
      this.validated = validateConfig(merged.doc, this.source ?? 'config file + admin API overlay');
      return this.validated;
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
      this.validated = config;
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
      const put: OverlayChange = { op: 'put', kind: 'user', name: id, doc: body };
      await this.change({ ...this.overlay, users }, [put], { section: 'users', name: id, body: true });
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
      const put: OverlayChange = { op: 'put', kind: 'user', name: id, doc };
      await this.change({ ...this.overlay, users }, [put], { section: 'users', name: id, body: true });
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
      const target: Target = { section: 'users', name: id, body: false };
      await this.change({ users, services: this.overlay.services, keys }, changes, target);
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
      const target: Target = { section: 'users', name: userId, body: false };
      await this.change({ ...this.overlay, keys }, [{ op: 'addKey', key: issued }], target);
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
      const target: Target = { section: 'users', name: userId, body: false };
      await this.change({ ...this.overlay, keys }, [{ op: 'deleteKey', id: keyId }], target);
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
      const doc = await resolveAutoListen(this.host.config, body);
      const services = new Map(this.overlay.services).set(name, doc);
      const put: OverlayChange = { op: 'put', kind: 'service', name, doc };
      await this.change({ ...this.overlay, services }, [put], { section: 'services', name, body: true });
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
      doc = await resolveAutoListen(this.host.config, doc);
      const services = new Map(this.overlay.services).set(name, doc);
      const put: OverlayChange = { op: 'put', kind: 'service', name, doc };
      await this.change({ ...this.overlay, services }, [put], { section: 'services', name, body: true });
      return this.getService(name);
    });
  }

  deleteService(name: string, ifMatch: string | undefined): Promise<void> {
    return this.exclusive(async () => {
      this.apiItem('service', name, ifMatch);
      const services = new Map(this.overlay.services);
      services.delete(name);
      const target: Target = { section: 'services', name, body: false };
      await this.change({ ...this.overlay, services }, [{ op: 'delete', kind: 'service', name }], target);
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
   * Validates the file plus `next`, applies it through the runtime's reload and only then stores the change. A
   * service of `target` that cannot listen is a 409 naming its address.
   */
  private async change(next: Overlay, changes: readonly OverlayChange[], target: Target): Promise<void> {
    if (this.baseDoc === null) {
      throw new AdminConflictError(
        'tidegate was started from a config object, not a file: the admin API cannot change it',
      );
    }
    const merged = mergeOverlay(this.baseDoc, next);
    let config: Config;
    try {
      config = this.validate(merged, target);
    } catch (err) {
      if (err instanceof ConfigError) {
        const section = target.body ? target.section : null;
        throw new AdminInvalidError(bodyIssues(err.issues, merged.doc, section, target.name));
      }
      throw err;
    }
    let result: ReloadResult;
    try {
      result = await this.host.reload(config);
    } catch (err) {
      if (err instanceof ReloadBusyError) throw new AdminConflictError(err.message);
      throw err;
    }
    const failed = result.failed.find((f) => target.section === 'services' && f.service === target.name);
    if (failed !== undefined) {
      throw new AdminConflictError(`service "${target.name}" cannot listen on ${failed.address}: ${failed.message}`);
    }
    this.store.apply(changes);
    this.overlay = next;
    this.merged = merged;
    this.validated = config;
  }

  /**
   * The config of `merged`: when the config before the change is known valid and the document differs from it by
   * the target item alone (put in place, added at the end or removed), only that item and its checks across items
   * run (config/item-change.ts); otherwise the whole document is validated.
   */
  private validate(merged: MergedDocument, target: Target): Config {
    const base = this.validated;
    const list = merged.doc[target.section];
    if (base !== null && Array.isArray(list)) {
      const { section, name } = target;
      const items = section === 'users' ? base.users : base.services;
      const before = section === 'users'
        ? base.users.findIndex((u) => u.id === name)
        : base.services.findIndex((s) => s.name === name);
      const at = indexOf(merged.doc, section, name);
      const doc = at === -1 ? null : list[at] as Record<string, unknown>;
      const removed = at === -1 && before !== -1 && list.length === items.length - 1;
      const put = at !== -1 && (at === before || (before === -1 && at === items.length))
        && list.length === items.length + (before === -1 ? 1 : 0);
      if (removed || put) {
        const where = removed ? before : at;
        return section === 'users'
          ? withUser(base, name, doc, where, 'admin API')
          : withService(base, doc, where, 'admin API');
      }
    }
    return validateConfig(merged.doc, this.source ?? 'admin API');
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
    const config = redactValue(user) as Record<string, unknown>;
    return { id: user.id, origin: this.userOrigin(user.id), config, issuedKeys };
  }

  private serviceItem(service: ServiceConfig): ServiceItem {
    return {
      name: service.name,
      type: service.type,
      origin: this.serviceOrigin(service.name),
      config: redactValue(service) as Record<string, unknown>,
      status: this.host.serviceStatus(service.name) ?? null,
    };
  }

  private logConflicts(conflicts: readonly OverlayConflict[]): void {
    for (const c of conflicts) this.log.warn({ path: c.path, kind: c.kind, name: c.name }, c.message);
  }
}
