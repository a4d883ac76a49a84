import type { ServiceAccounting } from './accounting/types.js';
import type { ServiceConfig, ServiceType, UserConfig } from './config/schema.js';
import type { BodyBudget } from './gateway/body-budget.js';
import type { GeoResolver } from './geo/index.js';
import type { Logger } from './log.js';
import type { WorkerPool } from './pool/pool.js';
import type { RelayEngine } from './relay/engine.js';
import type { TargetRegistry } from './relay/target-registry.js';
import type { OwnListeners } from './relay/proxy/own-listeners.js';
import type { RequestLogRow, UsageLog } from './store/usage-log.js';

/** One finished gateway request (the request-log row); accounting reads the per-user token totals from it. */
export type GatewayUsageRecord = RequestLogRow;

/**
 * The contract between the runtime and a service (forward, proxy, gateway). The runtime creates services from
 * config, applies diffs by calling `update` or replacing them, and reads `status()` for the admin API.
 */

export type ServiceState = 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

export interface ServiceStatus {
  readonly name: string;
  readonly type: ServiceType;
  readonly listen: string;
  readonly state: ServiceState;
  readonly connections: { readonly live: number; readonly total: number; readonly refused: number };
  readonly bytes: { readonly in: number; readonly out: number };
  /** Service-specific detail (targets and their health, channels, breakers …). */
  readonly detail?: Record<string, unknown>;
}

/** One finished relay, emitted once when both directions have closed. Accounting consumes it. */
export interface RelayRecord {
  readonly service: string;
  readonly user: string | null;
  readonly client: string;
  readonly target: string;
  /** Client→target bytes. */
  readonly bytesIn: number;
  /** Target→client bytes. */
  readonly bytesOut: number;
  readonly durationMs: number;
  readonly reason: string;
}

/** Where services report what they did; the runtime fans it out to accounting and the logs. */
export interface ServiceEvents {
  relayClosed(record: RelayRecord): void;
  /** One finished gateway request, with its user and token counts (optional: older runtimes lack it). */
  gatewayRequest?(record: GatewayUsageRecord): void;
}

/** What the runtime lends to every service. Subsystems (pool, store, accounting, geo) are added here. */
export interface ServiceContext {
  readonly log: Logger;
  readonly engine: RelayEngine;
  readonly events: ServiceEvents;
  /** Users by id, for the config in force. */
  readonly users: ReadonlyMap<string, UserConfig>;
  /** Meters, quota checks (`check(user)` before admitting) and bandwidth limits. */
  readonly accounting: ServiceAccounting;
  /** IP → country (cached, batched in the worker pool); null until a service needs geo routing. */
  readonly geo: GeoResolver | null;
  /** The worker pool (JSON parse/convert offload), when the runtime runs one. */
  readonly pool?: WorkerPool | null;
  /** The batched request-log writer, when the runtime has a SQLite store. */
  readonly usageLog?: UsageLog | null;
  /** Forward targets by service and address, kept across reloads (a service without one keeps its own). */
  readonly targets?: TargetRegistry;
  /** The request-body budget all gateway services share (`gateway.bodyBudget`, `gateway.bodyTimeout`). */
  readonly bodyBudget?: BodyBudget;
  /** Every address:port tidegate listens on (proxy services refuse to dial them), kept current by the runtime. */
  readonly ownListeners?: OwnListeners | null;
}

export interface Service<C extends ServiceConfig = ServiceConfig> {
  readonly name: string;
  readonly type: C['type'];
  readonly config: C;
  /** Binds the listener; rejects with ListenError naming the service and address. */
  start(): Promise<void>;
  /**
   * True when `next` can be applied in place (same listen address and type): live connections are untouched and
   * the new settings apply to new connections.
   */
  canUpdate(next: ServiceConfig): boolean;
  update(next: C, context: ServiceContext): void;
  /** Stops accepting at once, lets live connections finish for `graceMs`, then closes what is left. */
  stop(graceMs: number): Promise<void>;
  status(): ServiceStatus;
  /** Sizes and hit rates of the service's caches, for GET /cache (services without caches omit it). */
  caches?(): Record<string, unknown>;
}
