import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { AdminServer, type AdminRoute } from '../admin/server.js';
import { diffConfig, type ConfigDiff } from '../config/diff.js';
import type { Config, ServiceConfig, UserConfig } from '../config/schema.js';
import { ConfigError, ReloadBusyError, ShuttingDownError, TidegateError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RelayEngine } from '../relay/engine.js';
import { selectRelayEngine } from '../relay/select-engine.js';
import type { RelayRecord, Service, ServiceContext, ServiceEvents, ServiceStatus } from '../service.js';
import { openDatabase, type Db } from '../store/database.js';
import { VERSION } from '../version.js';
import { adminRoutes } from './admin-routes.js';
import type { ConfigSource } from './config-source.js';
import { createService } from './service-factory.js';

export interface ReloadResult {
  readonly ok: boolean;
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  readonly unchanged: readonly string[];
  /** Services whose change could not be applied (e.g. port in use); every other change still applied. */
  readonly failed: readonly { readonly service: string; readonly code: string; readonly message: string }[];
}

export interface StatusBody {
  readonly version: string;
  readonly uptimeSeconds: number;
  readonly relayEngine: RelayEngine['kind'];
  readonly relayEngineFallback: string | null;
  readonly reloads: { readonly total: number; readonly failed: number; readonly lastError: string | null };
  readonly services: readonly ServiceStatus[];
}

export interface RuntimeOptions {
  readonly log: Logger;
  readonly source?: ConfigSource | null;
  /** Watch the config file and reload on change (also `reload.watch` in the config). */
  readonly watch?: boolean;
  /** A specific relay engine (the shared relay suite runs every engine); default: native if it loads, else JS. */
  readonly engine?: RelayEngine;
}

/**
 * The top object: owns the relay engine, the services, the admin API and the store; applies config diffs; shuts
 * down gracefully. The only module that knows every subsystem.
 */
export class Runtime {
  config: Config;
  readonly log: Logger;
  readonly engine: RelayEngine;
  readonly engineFallback: string | null;
  readonly db: Db | null;
  private readonly source: ConfigSource | null;
  private readonly services = new Map<string, Service>();
  /** Removed or replaced services still letting their connections finish. */
  private readonly draining = new Set<Promise<void>>();
  private readonly context: { log: Logger; engine: RelayEngine; events: ServiceEvents; users: Map<string, UserConfig> };
  private admin: AdminServer | null = null;
  private watcher: FSWatcher | null = null;
  private reloading: Promise<ReloadResult> | null = null;
  private stopping: Promise<void> | null = null;
  private readonly startedAt = Date.now();
  private reloadCount = 0;
  private reloadFailures = 0;
  private lastReloadError: string | null = null;
  private readonly relayListeners: ((record: RelayRecord) => void)[] = [];

  private constructor(config: Config, options: RuntimeOptions, engine: RelayEngine, engineFallback: string | null, db: Db | null) {
    this.config = config;
    this.log = options.log;
    this.source = options.source ?? null;
    this.engine = engine;
    this.engineFallback = engineFallback;
    this.db = db;
    const runtime = this;
    this.context = {
      log: options.log,
      engine,
      users: new Map(config.users.map((u) => [u.id, u])),
      events: {
        relayClosed(record: RelayRecord): void {
          runtime.log.debug({ relay: record }, 'relay closed');
          for (const listener of runtime.relayListeners) listener(record);
        },
      },
    };
  }

  /** Starts everything in `config`; on failure stops what had started and rejects (nothing left listening). */
  static async start(config: Config, options: RuntimeOptions): Promise<Runtime> {
    const { engine, fallbackReason } = options.engine
      ? { engine: options.engine, fallbackReason: null }
      : await selectRelayEngine(options.log);
    const db = config.store.sqlite ? await openDatabase(config.store.sqlite) : null;
    const runtime = new Runtime(config, options, engine, fallbackReason, db);
    try {
      await runtime.startAll(options.watch === true || config.reload.watch);
    } catch (err) {
      await runtime.shutdown();
      throw err;
    }
    return runtime;
  }

  /** Subscribes to finished-relay records (accounting, tests). */
  onRelayClosed(listener: (record: RelayRecord) => void): void {
    this.relayListeners.push(listener);
  }

  private async startAll(watchFile: boolean): Promise<void> {
    const { config, log } = this;
    log.info({ version: VERSION, relayEngine: this.engine.kind, fallback: this.engineFallback }, 'tidegate starting');
    for (const svc of config.services) {
      const service = createService(svc, this.context);
      this.services.set(svc.name, service);
      await service.start();
      log.info({ service: svc.name, type: svc.type, listen: service.status().listen }, 'service listening');
    }
    if (config.admin.listen) {
      this.admin = new AdminServer(this.routes(), config.admin.token, log);
      await this.admin.listen(config.admin.listen);
      log.info({ listen: this.admin.address(), auth: config.admin.token ? 'bearer' : 'none' }, 'admin API listening');
    }
    if (watchFile && this.source?.file) this.watchConfig(this.source.file);
  }

  private routes(): AdminRoute[] {
    return adminRoutes(this);
  }

  /** The admin API's bound address, e.g. when the config asked for port 0. */
  adminAddress(): string | null {
    return this.admin?.address() ?? null;
  }

  /** Looks up a running service (tests, admin). */
  service(name: string): Service | undefined {
    return this.services.get(name);
  }

  status(): StatusBody {
    return {
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      relayEngine: this.engine.kind,
      relayEngineFallback: this.engineFallback,
      reloads: { total: this.reloadCount, failed: this.reloadFailures, lastError: this.lastReloadError },
      services: [...this.services.values()].map((s) => s.status()),
    };
  }

  /** Reads the config source again and applies it. An invalid config changes nothing and rejects with ConfigError. */
  async reloadFromSource(): Promise<ReloadResult> {
    if (!this.source) throw new ConfigError([{ path: '', message: 'no config source to reload from (started without --config)' }]);
    let next: Config;
    try {
      next = await this.source.load();
    } catch (err) {
      this.recordReloadFailure(err as Error);
      throw err;
    }
    return this.reload(next);
  }

  /** Applies `next` as a diff; reloads are serialized. */
  async reload(next: Config): Promise<ReloadResult> {
    if (this.stopping) throw new ShuttingDownError('tidegate is shutting down');
    if (this.reloading) throw new ReloadBusyError('a reload is already being applied; try again when it finishes');
    this.reloading = this.apply(next);
    try {
      return await this.reloading;
    } finally {
      this.reloading = null;
    }
  }

  private recordReloadFailure(err: Error): void {
    this.reloadCount++;
    this.reloadFailures++;
    this.lastReloadError = err.message;
    this.log.error({ code: (err as TidegateError).code, err: err.message }, 'reload rejected; nothing changed');
  }

  private async apply(next: Config): Promise<ReloadResult> {
    const diff: ConfigDiff = diffConfig(this.config, next);
    const failed: { service: string; code: string; message: string }[] = [];
    const { log } = this;
    this.config = next;
    this.context.users = new Map(next.users.map((u) => [u.id, u]));
    if (this.admin) this.admin.setToken(next.admin.token);

    for (const svc of diff.removed) {
      const service = this.services.get(svc.name)!;
      this.services.delete(svc.name);
      this.drain(service);
    }
    for (const { before, after } of diff.changed) {
      const service = this.services.get(before.name)!;
      if (service.canUpdate(after)) {
        service.update(after as never, this.context);
        continue;
      }
      // Listener or type changed: stop accepting on the old one first when the address is the same.
      const sameAddress = before.listen.host === after.listen.host && before.listen.port === after.listen.port;
      if (sameAddress) this.drain(service);
      const replacement = await this.startService(after, failed);
      if (replacement) {
        this.services.set(after.name, replacement);
        if (!sameAddress) this.drain(service);
      } else if (sameAddress) {
        this.services.delete(after.name);
      }
    }
    for (const svc of diff.added) {
      const service = await this.startService(svc, failed);
      if (service) this.services.set(svc.name, service);
    }
    this.reloadCount++;
    if (failed.length > 0) {
      this.reloadFailures++;
      this.lastReloadError = failed.map((f) => f.message).join('; ');
    }
    const result: ReloadResult = {
      ok: failed.length === 0,
      added: diff.added.map((s) => s.name),
      removed: diff.removed.map((s) => s.name),
      changed: diff.changed.map((c) => c.after.name),
      unchanged: diff.unchanged.map((s) => s.name),
      failed,
    };
    log.info({ ...result, shared: diff.sharedChanged }, failed.length ? 'reload applied with failures' : 'reload applied');
    return result;
  }

  private async startService(config: ServiceConfig, failed: { service: string; code: string; message: string }[]): Promise<Service | null> {
    const service = createService(config, this.context);
    try {
      await service.start();
      this.log.info({ service: config.name, listen: service.status().listen }, 'service listening');
      return service;
    } catch (err) {
      const e = err as TidegateError;
      failed.push({ service: config.name, code: e.code ?? 'TG_ERR_INTERNAL', message: e.message });
      this.log.error({ service: config.name, code: e.code, err: e.message }, 'service failed to start');
      return null;
    }
  }

  /** Lets a removed or replaced service finish its connections within the grace period, in the background. */
  private drain(service: Service): void {
    const done = service.stop(this.config.shutdownGraceMs).then(() => {
      this.draining.delete(done);
      this.log.info({ service: service.name }, 'service stopped');
    });
    this.draining.add(done);
  }

  private watchConfig(file: string): void {
    const name = basename(file);
    let timer: NodeJS.Timeout | null = null;
    const runtime = this;
    // Watch the folder: editors replace files by rename, which a file watch would lose.
    this.watcher = watch(dirname(file), function configFolderChanged(_event, changed) {
      if (changed !== name) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(function reloadChangedConfig() {
        runtime.log.info({ file }, 'config file changed; reloading');
        runtime.reloadFromSource().catch(() => {
          /* already logged; nothing changed */
        });
      }, 200);
    });
    this.watcher.unref();
  }

  /** Stops accepting everywhere, lets connections finish within `shutdownGrace`, then closes the rest. */
  shutdown(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  private async stopAll(): Promise<void> {
    this.watcher?.close();
    if (this.reloading) await this.reloading.catch(() => undefined);
    const grace = this.config.shutdownGraceMs;
    await Promise.all([...this.services.values()].map((s) => s.stop(grace)));
    await Promise.all(this.draining);
    await this.engine.shutdown();
    if (this.admin) await this.admin.close();
    this.db?.close();
    this.log.info('tidegate stopped');
  }
}
