import type { StatusBody as AdminStatusBody } from '../contracts/admin-api.js';
import { registerServiceMetrics } from './service-metrics.js';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { Accounting, type AccountingStatus } from '../accounting/accounting.js';
import type { Clock } from '../accounting/period.js';
import { EventHub } from '../admin/events.js';
import { StatsStream } from '../admin/stats-stream.js';
import { AdminServer, adminCredentials, type AdminRoute } from '../admin/server.js';
import { configInForce, diffConfig, type ConfigDiff } from '../config/diff.js';
import type { Config, ServiceConfig, UserConfig } from '../config/schema.js';
import { ConfigError, InternalError, ReloadBusyError, ShuttingDownError, type TidegateError } from '../errors.js';
import { BodyBudget } from '../gateway/body-budget.js';
import type { Logger } from '../log.js';
import type { RelayEngine } from '../contracts/relay-engine.js';
import { selectRelayEngine } from '../relay/select-engine.js';
import { TargetRegistry } from '../relay/target-registry.js';
import type { GatewayUsageRecord, RelayRecord } from '../contracts/records.js';
import type { ServiceEvents } from '../contracts/service-events.js';
import type { ServiceStatus } from '../contracts/service-status.js';
import type { Service } from '../contracts/service.js';
import { openDatabase, type Db } from '../store/database.js';
import { UsageLog } from '../store/usage-log.js';
import { OverlayStore } from '../store/overlay-store.js';
import { RequestReader } from '../store/request-reader.js';
import type { ReporterStatus } from '../report/reporter.js';
import { ReportControl } from './report-control.js';
import { Management } from './management/management.js';
import { healthSources, ServiceWatch } from './service-watch.js';
import { healthMetrics } from '../health/metrics.js';
import { TrafficMetrics } from './traffic-metrics.js';
import { statsTick } from './stats-sample.js';
import { VERSION } from '../version.js';
import { adminRoutes } from './admin-routes.js';
import type { ConfigSource } from './config-source.js';
import type { ReloadFailure, ReloadResult } from './reload-result.js';
export type { ReloadFailure, ReloadResult } from './reload-result.js';
import { createService, needsGeo } from './service-factory.js';
import { createGeoResolver, geoFilesStamp } from '../geo/index.js';
import type { GeoResolver } from '../contracts/geo-resolver.js';
import { createWorkerPool, type PoolStats, type WorkerPool } from '../pool/index.js';
import { sameSettings } from '../config/diff.js';
import { exposures } from '../config/exposure.js';
import { OwnListeners } from '../relay/proxy/own-listeners.js';
import { NameResolver, type ResolverStats } from '../relay/resolver/name-resolver.js';
import { formatHostPort, parseHostPort, type HostPort } from '../util/address.js';
import type { LimitStore } from '../accounting/limit-store.js';
import type { SharedCounterStore } from '../accounting/shared-store.js';
import type { UsageLog as UsageLogContract } from '../contracts/usage-log.js';
import type { Fleet } from './fleet.js';

/** The request-log writer as the runtime drives it (the store's, or a worker's channel to its primary's). */
export type RuntimeUsageLog = UsageLogContract & { flush(): Promise<unknown>; close(): Promise<unknown> };

/** How long requests on a moved admin API's old listener may take to finish (its own reload reply among them). */
const ADMIN_MOVE_GRACE_MS = 5_000;

/** `GET /status` (the shape in contracts/admin-api.ts, with this server's accounting and pool status). */
export type StatusBody = AdminStatusBody<AccountingStatus, PoolStats>;

export interface RuntimeOptions {
  readonly log: Logger;
  readonly source?: ConfigSource | null;
  /** Watch the config file and reload on change (also `reload.watch` in the config). */
  readonly watch?: boolean;
  /** A specific relay engine (the shared relay suite runs every engine); default: native if it loads, else JS. */
  readonly engine?: RelayEngine;
  /** Accounting's clock (quota periods) and the name cache's; tests inject one. Default Date.now. */
  readonly clock?: Clock;
  /** Redis key prefix for shared counters (instances sharing quotas use the same one). Default "tidegate". */
  readonly redisPrefix?: string;
  /**
   * The document `config` was validated from (`${ENV}` expanded), so the admin API can merge its overlay into it.
   * Default: the source's `loadDocument()`; without either, the admin API reads but cannot change users or services.
   */
  readonly document?: Record<string, unknown>;
  /** Worker processes run the services; this runtime is their primary (src/cluster/). */
  readonly fleet?: Fleet;
  /** A worker process: deltas go to the primary instead of a ledger or Redis. */
  readonly shared?: SharedCounterStore;
  /** Shares gateway limits through this instead of Redis (a worker process: its primary). */
  readonly sharedLimits?: LimitStore;
  /** A worker process: its events (quota cuts) go to the primary's `GET /events` too. */
  readonly onEvent?: (type: string, data: Record<string, unknown>) => void;
  /** A worker process: request-log rows go to the primary's writer. */
  readonly usageLog?: RuntimeUsageLog;
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
  readonly accounting: Accounting;
  /** Users, keys and services made through the admin API (the overlay on the config file). */
  readonly management: Management;
  /** `GET /requests` and `GET /usage/summary` (read on a thread of their own); null without a SQLite store. */
  readonly requestQuery: RequestReader | null;
  /** Pushed traffic reports (`report:`). */
  private readonly reports: ReportControl;
  /** `GET /events`. */
  readonly events: EventHub;
  /** `GET /stats/stream`: the dashboard's one-second numbers (runs only while someone watches). */
  readonly stats: StatsStream;
  private readonly watch: ServiceWatch;
  /** The overlay's own in-memory database when the config has no SQLite file. */
  private readonly overlayDb: Db | null;
  private readonly source: ConfigSource | null;
  private readonly services = new Map<string, Service>();
  /** Removed or replaced services still letting their connections finish (shown in status as `draining`). */
  private readonly draining = new Map<Service, Promise<void>>();
  private readonly context: {
    log: Logger; engine: RelayEngine; events: ServiceEvents; users: Map<string, UserConfig>; geo: GeoResolver | null;
    pool: WorkerPool | null; usageLog: RuntimeUsageLog | null;
    accounting: Accounting; targets: TargetRegistry; bodyBudget: BodyBudget; ownListeners: OwnListeners;
    resolver: NameResolver;
  };
  private pool: WorkerPool | null = null;
  private readonly fleet: Fleet | null;
  private readonly onEvent: ((type: string, data: Record<string, unknown>) => void) | null;
  private admin: AdminServer | null = null;
  private watcher: FSWatcher | null = null;
  /** `--watch` on the command line keeps watching whatever the config says. */
  private watchForced = false;
  private reloading: Promise<ReloadResult> | null = null;
  private stopping: Promise<void> | null = null;
  private readonly startedAt = Date.now();
  private reloadCount = 0;
  /** The geo files' fingerprint the current resolver was opened with. */
  private geoStamp = '';
  private reloadFailures = 0;
  private lastReloadError: string | null = null;
  private readonly relayListeners: ((record: RelayRecord) => void)[] = [];
  private readonly gatewayListeners: ((record: GatewayUsageRecord) => void)[] = [];

  private constructor(
    config: Config,
    options: RuntimeOptions,
    engine: RelayEngine,
    engineFallback: string | null,
    db: Db | null,
    accounting: Accounting,
    management: Management,
    overlayDb: Db | null,
  ) {
    this.config = config;
    this.management = management;
    this.overlayDb = overlayDb;
    this.requestQuery = db ? new RequestReader(db, options.log) : null;
    this.watch = new ServiceWatch(() => this.status().services, this);
    this.events = new EventHub(this.watch);
    healthMetrics(accounting.metrics, () => healthSources(this.services));
    const traffic = new TrafficMetrics(accounting.metrics, () => this.config, () => this.status().services);
    this.stats = new StatsStream(() => statsTick(this.status()));
    this.log = options.log;
    this.source = options.source ?? null;
    this.fleet = options.fleet ?? null;
    this.onEvent = options.onEvent ?? null;
    this.engine = engine;
    this.engineFallback = engineFallback;
    this.db = db;
    this.accounting = accounting;
    const runtime = this;
    registerServiceMetrics(accounting.metrics, () => runtime.status().services);
    this.reports = new ReportControl(db, accounting, options.log, (type, data) => runtime.publish(type, data));
    const events: ServiceEvents = {
      relayClosed(record: RelayRecord): void {
        // Once per connection: skip building the log object when debug is off.
        if (runtime.log.isLevelEnabled('debug')) runtime.log.debug({ relay: record }, 'relay closed');
        traffic.relayClosed(record);
        for (const listener of runtime.relayListeners) listener(record);
      },
      gatewayRequest(record: GatewayUsageRecord): void {
        // Accounting books the request and its tokens to the user and the service.
        accounting.addGatewayUsage(record);
        traffic.gatewayRequest(record);
        for (const listener of runtime.gatewayListeners) listener(record);
      },
    };
    this.context = {
      log: options.log,
      engine,
      accounting,
      users: new Map(config.users.map((u) => [u.id, u])),
      geo: null,
      pool: null,
      // The request log lives in the runtime's SQLite store; flushed on reload and shutdown.
      usageLog: options.usageLog ?? (db ? new UsageLog(db, options.log) : null),
      events,
      targets: new TargetRegistry(),
      bodyBudget: new BodyBudget(config.gateway),
      ownListeners: new OwnListeners(),
      // The runtime clock ages the name cache too (tests move one).
      resolver: new NameResolver(config.resolver, options.clock),
    };
    this.ensurePool(config);
  }

  /** Starts everything in `config`; on failure stops what had started and rejects (nothing left listening). */
  static async start(config: Config, options: RuntimeOptions): Promise<Runtime> {
    const { engine, fallbackReason } = options.engine
      ? { engine: options.engine, fallbackReason: null }
      : await selectRelayEngine(options.log);
    const db = config.store.sqlite ? await openDatabase(config.store.sqlite) : null;
    // Without a SQLite file, API changes last until the process ends.
    const overlayDb = db === null ? await openDatabase(':memory:') : null;
    let accounting: Accounting;
    let management: Management;
    let ref: Runtime | null = null;
    try {
      const document = options.document ?? (options.source?.loadDocument ? await options.source.loadDocument() : null);
      management = new Management(
        new OverlayStore((db ?? overlayDb)!), document, options.log, options.source?.file ?? undefined,
      );
      config = management.initialConfig(config);
      // Durable (and shared) totals are loaded before any service accepts.
      accounting = await Accounting.open(config, {
        log: options.log, engine, db, clock: options.clock, redisPrefix: options.redisPrefix,
        onCut: (user, reason, closed) => ref?.publish('quota', { user, reason, closed }),
        ...(options.shared ? { shared: options.shared } : {}),
        ...(options.sharedLimits ? { sharedLimits: options.sharedLimits } : {}),
      });
    } catch (err) {
      db?.close();
      overlayDb?.close();
      await engine.shutdown();
      throw err;
    }
    const runtime = new Runtime(config, options, engine, fallbackReason, db, accounting, management, overlayDb);
    ref = runtime;
    management.bind(runtime);
    try {
      runtime.watchForced = options.watch === true;
      await runtime.startAll(runtime.watchForced || config.reload.watch);
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

  /** Subscribes to finished gateway requests (user, tokens): the hook accounting consumes. */
  onGatewayRequest(listener: (record: GatewayUsageRecord) => void): void {
    this.gatewayListeners.push(listener);
  }

  /** The request-log writer, when there is a SQLite store. */
  get usageLog(): RuntimeUsageLog | null {
    return this.context.usageLog;
  }

  /** Starts the worker pool the first time a config has a gateway service (it parses and converts LLM bodies). */
  private ensurePool(config: Config): void {
    if (this.fleet === null && this.context.pool === null && config.services.some((s) => s.type === 'gateway')) {
      this.context.pool = this.workerPool();
    }
  }

  private async startAll(watchFile: boolean): Promise<void> {
    const { config, log } = this;
    log.info({ version: VERSION, relayEngine: this.engine.kind, fallback: this.engineFallback }, 'tidegate starting');
    this.warnExposures(config);
    const geo = await this.prepareGeo(config);
    if (geo) this.context.geo = geo;
    await this.context.resolver.ready();
    if (this.fleet !== null) await this.fleet.start(config, this);
    else for (const svc of config.services) {
      const service = createService(svc, this.context);
      this.services.set(svc.name, service);
      await service.start();
      this.publishListeners();
      log.info({ service: svc.name, type: svc.type, listen: service.status().listen }, 'service listening');
    }
    if (config.admin.listen) {
      this.admin = new AdminServer(this.routes(), adminCredentials(config.admin.token, config.admin.tokens), log);
      await this.admin.listen(config.admin.listen);
      this.publishListeners();
      log.info({ listen: this.admin.address(), auth: config.admin.token ? 'bearer' : 'none' }, 'admin API listening');
    }
    if (watchFile && this.source?.file) this.watchConfig(this.source.file);
    this.reports.apply(config);
  }

  /** `GET /report`: the reporter's state, or null when reports are off. */
  reportStatus(): ReporterStatus | null {
    return this.reports.status();
  }

  /** Sends pending report batches now (tests; the reporter also runs on its interval). */
  reportNow(): Promise<void> {
    return this.reports.now();
  }

  private routes(): AdminRoute[] {
    const routes = this.fleet === null ? adminRoutes(this) : [...adminRoutes(this), ...this.fleet.routes()];
    const engine = this.engine;
    return engine.catchUpAdmitted === undefined ? routes : routes.map((route) => catchingUp(route, engine));
  }

  /** The status of one running service (the admin API's service items). */
  serviceStatus(name: string): ServiceStatus | undefined {
    if (this.fleet !== null) return this.fleet.serviceStatus(name);
    return this.services.get(name)?.status();
  }

  /** Closes a user's live connections, recording `reason` (`user_removed`). */
  closeUser(id: string, reason: string): number {
    if (this.fleet !== null) return this.fleet.closeUser(id, reason);
    return this.accounting.closeUser(id, reason);
  }

  async resetUsage(id: string): Promise<boolean> {
    const reset = await this.accounting.resetUsage(id);
    if (reset) this.fleet?.resetUsage(id);
    return reset;
  }

  /** An event for `GET /events` subscribers (nothing happens when there are none). */
  publish(type: string, data: Record<string, unknown>): void {
    this.events.publish(type, data);
    this.onEvent?.(type, data);
  }

  /** The admin API's bound address, e.g. when the config asked for port 0. */
  adminAddress(): string | null {
    return this.admin?.address() ?? null;
  }

  /** Gateway limit windows of a user and its keys, per service that has any (GET /users/:id/usage). */
  limitStatus(user: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [name, service] of this.services) {
      const status = service.limitStatus?.(user);
      if (status !== undefined && status !== null) out[name] = status;
    }
    return out;
  }

  /** Looks up a running service (tests, admin). */
  service(name: string): Service | undefined {
    return this.services.get(name);
  }

  status(): StatusBody {
    const fleet = this.fleet;
    if (fleet !== null) {
      const accounting = { ...this.accounting.status(), liveRelays: fleet.liveRelays() };
      const own = this.ownStatus();
      // The workers relay; the primary's own engine only keeps accounting's byte budgets.
      const engine = fleet.relayEngine();
      return {
        ...own, relayEngine: engine?.kind ?? own.relayEngine, relayEngineFallback: engine?.fallback ?? null,
        services: fleet.services(), accounting, workers: fleet.status(),
      };
    }
    return this.ownStatus();
  }

  /**
   * What a fleet's worker reports of itself each second: `status()` without the pool's histograms (their summary
   * alone took ~2 ms, most of an idle worker's CPU).
   */
  workerReport(): {
    services: ServiceStatus[]; liveRelays: number; relayEngine: 'native' | 'js'; relayEngineFallback: string | null;
  } {
    return {
      services: [...this.services.values(), ...this.draining.keys()].map((s) => s.status()),
      liveRelays: this.accounting.status().liveRelays,
      relayEngine: this.engine.kind,
      relayEngineFallback: this.engineFallback,
    };
  }

  private ownStatus(): StatusBody {
    return {
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      relayEngine: this.engine.kind,
      relayEngineFallback: this.engineFallback,
      reloads: { total: this.reloadCount, failed: this.reloadFailures, lastError: this.lastReloadError },
      pool: this.pool?.stats() ?? null,
      // Running services first, then the ones draining (a replaced service's old listener shares its name).
      services: [...this.services.values(), ...this.draining.keys()].map((s) => s.status()),
      accounting: this.accounting.status(),
    };
  }

  /** Reads the config source again and applies it. An invalid config changes nothing and rejects with ConfigError. */
  async reloadFromSource(): Promise<ReloadResult> {
    if (!this.source) {
      throw new ConfigError([{ path: '', message: 'no config source to reload from (started without --config)' }]);
    }
    if (this.source.loadDocument) {
      let doc: Record<string, unknown>;
      try {
        doc = await this.source.loadDocument();
      } catch (err) {
        this.recordReloadFailure(err as Error);
        throw err;
      }
      // The overlay goes on top of the new file; validated whole, applied like any reload.
      try {
        return await this.management.reloadFile(doc, this.source.file ?? 'config');
      } catch (err) {
        if (err instanceof ConfigError) this.recordReloadFailure(err);
        throw err;
      }
    }
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
    this.holdAhead(true);
    this.reloading = this.apply(next);
    try {
      return await this.reloading;
    } finally {
      this.reloading = null;
      this.holdAhead(false);
    }
  }

  /** Admissions decided ahead (native grants) wait while a reload changes what they were decided on. */
  private holdAhead(hold: boolean): void {
    for (const service of this.services.values()) service.holdAhead?.(hold);
  }

  private recordReloadFailure(err: Error): void {
    this.reloadCount++;
    this.reloadFailures++;
    this.lastReloadError = err.message;
    this.log.error({ code: (err as TidegateError).code, err: err.message }, 'reload rejected; nothing changed');
  }

  /** The shared worker pool, started on first need. */
  workerPool(): WorkerPool {
    this.pool ??= createWorkerPool(this.config.pool, this.log);
    return this.pool;
  }

  /** Geo resolver stats for GET /cache. */
  geoStats(): ReturnType<GeoResolver['stats']> | null {
    return this.context.geo?.stats() ?? null;
  }

  /** GET /cache: the GeoIP cache, the name resolver's and every service's caches (affinity, credential indexes). */
  caches(): {
    geo: ReturnType<GeoResolver['stats']> | null; resolver: ResolverStats;
    services: Record<string, Record<string, unknown>>;
  } {
    const services: Record<string, Record<string, unknown>> = {};
    for (const [name, service] of this.services) if (service.caches) services[name] = service.caches();
    if (this.fleet !== null) Object.assign(services, this.fleet.caches());
    return { geo: this.geoStats(), resolver: this.context.resolver.stats(), services };
  }

  /**
   * A ready geo resolver when `config` needs one and the current one is missing or was built from other geo
   * settings; null when nothing changes. Rejects (naming the file) when the database cannot be opened.
   */
  private async prepareGeo(config: Config): Promise<GeoResolver | null> {
    // A fleet's primary routes nothing: its workers open their own.
    if (this.fleet !== null || !config.services.some(needsGeo)) return null;
    const stamp = await geoFilesStamp(config.geo);
    const same = this.context.geo !== null && sameSettings(this.config.geo, config.geo) && stamp === this.geoStamp;
    if (same) return null;
    const geo = createGeoResolver(config.geo, this.workerPool(), this.log, stamp);
    await geo.ready();
    this.geoStamp = stamp;
    return geo;
  }

  /**
   * Applies a diff service by service. A service that cannot start is left out whole (its resources released) and
   * reported in `failed`; every other change applies. The config in force is then what actually runs, see
   * configInForce, so the next reload retries what failed and can remove it.
   */
  private async apply(next: Config): Promise<ReloadResult> {
    const diff: ConfigDiff = diffConfig(this.config, next);
    const failed: ReloadFailure[] = [];
    const { log } = this;
    let geo: GeoResolver | null;
    try {
      // Shared resources first: if they fail, nothing has changed yet.
      geo = await this.prepareGeo(next);
    } catch (err) {
      this.recordReloadFailure(err as Error);
      throw err;
    }
    const before = this.config;
    const refreshed: string[] = [];
    if (geo && this.context.geo !== null && sameSettings(before.geo, next.geo)) refreshed.push('geo');
    if (geo) this.context.geo = geo;
    this.config = next;
    this.context.users = new Map(next.users.map((u) => [u.id, u]));
    this.context.bodyBudget.retune(next.gateway);
    // The hosts file is read again on every reload; the cache starts over only when the settings changed.
    await this.context.resolver.reconfigure(next.resolver);
    await this.accounting.applyConfig(next);
    await this.context.usageLog?.flush();
    this.ensurePool(next);
    const adminListen = await this.applyAdmin(before, next, failed);
    this.applyWatch(next.reload.watch);
    this.reports.apply(next);

    let running = (name: string): ServiceConfig | undefined => this.services.get(name)?.config;
    if (this.fleet !== null) {
      // The same validated config goes to every worker; each applies the diff against what it runs.
      const outcome = await this.fleet.reload(next);
      failed.push(...outcome.failed);
      refreshed.push(...outcome.refreshed);
      running = outcome.running;
    } else {
      await this.applyServices(diff, failed, refreshed);
    }
    if (failed.length > 0) {
      this.config = configInForce(next, adminListen, running);
      // Accounting follows the services that run, not the ones that failed.
      await this.accounting.applyConfig(this.config);
    }
    this.publishListeners();
    this.warnExposures(next);
    // Deltas counted under the old config reach the ledger now.
    await this.accounting.flush();
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
      refreshed,
      failed,
    };
    log.info(
      { ...result, shared: diff.sharedChanged }, failed.length ? 'reload applied with failures' : 'reload applied',
    );
    this.publish('reload', { ...result });
    return result;
  }

  private async applyServices(diff: ConfigDiff, failed: ReloadFailure[], refreshed: string[]): Promise<void> {
    for (const svc of diff.removed) this.retire(svc.name);
    // A gateway whose own settings did not change still takes new users and keys (its key map is built from them).
    if (diff.sharedChanged.includes('users')) {
      for (const svc of diff.unchanged) {
        const service = this.services.get(svc.name);
        if (svc.type === 'gateway' && service !== undefined) service.update(svc as never, this.context);
      }
    }
    for (const { before, after } of diff.changed) await this.applyChange(before, after, failed);
    for (const svc of diff.added) await this.startService(svc, failed);
    // Files a config names may have changed under the same config (rule sets); the geo resolver may be new.
    for (const [name, service] of this.services) {
      if (service.refresh !== undefined && await service.refresh()) refreshed.push(name);
    }
  }

  /** A removed service stops accepting and drains. */
  private retire(name: string): void {
    const service = this.services.get(name);
    if (service === undefined) return;
    this.services.delete(name);
    this.drain(service);
  }

  /** In place when the service can take it; else a new listener replaces the old one. */
  private async applyChange(before: ServiceConfig, after: ServiceConfig, failed: ReloadFailure[]): Promise<void> {
    const service = this.services.get(before.name);
    if (service === undefined) {
      await this.startService(after, failed);
      return;
    }
    if (service.canUpdate(after)) {
      try {
        service.update(after as never, this.context);
      } catch (err) {
        this.startFailed(after, err, failed);
      }
      return;
    }
    // Listener or type changed: on the same address the old one must stop accepting first (it is then gone even if
    // the new one fails); on another address the old one keeps running until the new one listens.
    const sameAddress = before.listen.host === after.listen.host && before.listen.port === after.listen.port;
    if (sameAddress) this.retire(before.name);
    const replacement = await this.startService(after, failed);
    if (replacement !== null && !sameAddress) this.drain(service);
  }

  /**
   * A new token applies at once; a new address gets a new listener before the old one closes. Returns the address in
   * force.
   */
  private async applyAdmin(before: Config, next: Config, failed: ReloadFailure[]): Promise<HostPort | null> {
    if (this.admin) this.admin.setToken(adminCredentials(next.admin.token, next.admin.tokens));
    if (sameSettings(before.admin.listen, next.admin.listen)) return next.admin.listen;
    const old = this.admin;
    if (next.admin.listen) {
      const admin = new AdminServer(this.routes(), adminCredentials(next.admin.token, next.admin.tokens), this.log);
      try {
        await admin.listen(next.admin.listen);
      } catch (err) {
        const e = err as TidegateError;
        failed.push({
          service: 'admin', address: formatHostPort(next.admin.listen), code: e.code ?? InternalError.code,
          message: e.message,
        });
        this.log.error(
          { service: 'admin', code: e.code, err: e.message }, 'admin API failed to listen; the old one stays',
        );
        await admin.close();
        return before.admin.listen;
      }
      this.admin = admin;
      this.log.info({ listen: admin.address() }, 'admin API listening');
    } else {
      this.admin = null;
    }
    // Not awaited: the reload request being answered may be on the old listener.
    void old?.close(ADMIN_MOVE_GRACE_MS);
    return next.admin.listen;
  }

  private applyWatch(watch: boolean): void {
    if (watch && this.watcher === null && this.source?.file) this.watchConfig(this.source.file);
    else if (!watch && this.watcher !== null && !this.watchForced) {
      this.watcher.close();
      this.watcher = null;
    }
  }

  /** Starts and registers a service; one that cannot start is released whole and reported, never half-registered. */
  private async startService(config: ServiceConfig, failed: ReloadFailure[]): Promise<Service | null> {
    let service: Service | null = null;
    try {
      service = createService(config, this.context);
      await service.start();
    } catch (err) {
      this.startFailed(config, err, failed);
      // Whatever its constructor set up (target pool, channels, timers) goes; it never accepted anything.
      await service?.stop(0).catch(() => undefined);
      return null;
    }
    this.services.set(config.name, service);
    this.log.info({ service: config.name, listen: service.status().listen }, 'service listening');
    return service;
  }

  private startFailed(config: ServiceConfig, err: unknown, failed: ReloadFailure[]): void {
    const e = err as Partial<TidegateError>;
    const code = typeof e.code === 'string' ? e.code : InternalError.code;
    const message = typeof e.message === 'string' ? e.message : String(err);
    failed.push({ service: config.name, address: formatHostPort(config.listen), code, message });
    this.log.error({ service: config.name, code, err: message }, 'service failed to start');
  }

  /** Tells proxy services every address tidegate listens on now, so they refuse to dial back into it. */
  private publishListeners(): void {
    const bound: HostPort[] = [];
    for (const service of this.services.values()) {
      const address = parseHostPort(service.status().listen);
      if (typeof address !== 'string') bound.push(address);
    }
    const admin = this.admin?.address();
    const address = admin ? parseHostPort(admin) : null;
    if (address !== null && typeof address !== 'string') bound.push(address);
    this.context.ownListeners.publish(bound);
  }

  /** Listeners open to anyone that the config allowed explicitly: a warning at every start and reload. */
  private warnExposures(config: Config): void {
    for (const exposure of exposures(config)) {
      if (exposure.allowed) this.log.warn({ path: exposure.path }, `${exposure.warning} (allowed by the config)`);
    }
  }

  /** Lets a removed or replaced service finish its connections within the grace period, in the background. */
  private drain(service: Service): void {
    const { log } = this;
    const done = service.stop(this.config.shutdownGraceMs).then(
      () => log.info({ service: service.name }, 'service stopped'),
      (err: Error) => log.error({ service: service.name, err: err.message }, 'service failed to stop cleanly'),
    ).finally(() => this.draining.delete(service));
    this.draining.set(service, done);
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
    // Every worker drains and hands over its last deltas before the ledger's final flush below.
    if (this.fleet !== null) await this.fleet.stop(grace);
    await Promise.all([...this.services.values()].map((s) => s.stop(grace)));
    await Promise.all(this.draining.values());
    await this.engine.shutdown();
    // No more sends; what is unacknowledged or pending stays in SQLite for the next start.
    await this.reports.close();
    // Every relay has reported by now: the last deltas go to the ledger (and Redis) before the db closes.
    await this.accounting.close();
    this.events.close();
    this.stats.close();
    if (this.admin) await this.admin.close();
    await this.context.usageLog?.close();
    await this.requestQuery?.close();
    await this.pool?.close();
    this.db?.close();
    this.overlayDb?.close();
    this.log.info('tidegate stopped');
  }
}

/**
 * `route`, first bringing in the connections the engine admitted on grants (RelayEngine.catchUpAdmitted): what the
 * admin API reports (services, metrics, accounting) counts them from the moment they exist.
 */
function catchingUp(route: AdminRoute, engine: RelayEngine): AdminRoute {
  return {
    ...route,
    handle(params, request, body) {
      engine.catchUpAdmitted!();
      return route.handle(params, request, body);
    },
  };
}
