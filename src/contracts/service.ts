import type { ServiceConfig } from '../config/types.js';
import type { HealthSnapshot } from './health.js';
import type { ServiceContext } from './service-context.js';
import type { ServiceStatus } from './service-status.js';

/**
 * The contract between the runtime and a service (forward, proxy, gateway). The runtime creates services from
 * config, applies diffs by calling `update` or replacing them, and reads `status()` for the admin API.
 */
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
  /**
   * Re-reads files the service's config names (rule sets) and takes shared resources as they are now; the runtime
   * calls it on every reload, also for services whose config did not change. True when something read changed.
   */
  refresh?(): Promise<boolean>;
  /** Sizes and hit rates of the service's caches, for GET /cache (services without caches omit it). */
  caches?(): Record<string, unknown>;
  /** A user's (and its keys') gateway limit windows and key budgets, for GET /users/:id/usage; null: none here. */
  limitStatus?(user: string): unknown;
  /** Health-checked subjects of the service (upstream proxies …), for /metrics (services without omit it). */
  health?(): readonly HealthSnapshot[];
  /**
   * While a reload is applied (true until false): decide no admission ahead of a connection, and take back those
   * decided (they carry the config in force before; shared state such as rate limits changes before `update`).
   */
  holdAhead?(hold: boolean): void;
}
