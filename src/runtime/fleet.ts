import type { Accounting } from '../accounting/accounting.js';
import type { AdminRoute } from '../admin/server.js';
import type { Config, ServiceConfig } from '../config/schema.js';
import type { ServiceStatus } from '../contracts/service-status.js';
import type { UsageLog } from '../contracts/usage-log.js';
import type { ReloadFailure, ReloadResult } from './reload-result.js';

/** What a fleet's primary lends it: the one ledger, the one request log, the one event stream. */
export interface FleetHost {
  readonly accounting: Accounting;
  readonly usageLog: UsageLog | null;
  publish(type: string, data: Record<string, unknown>): void;
}

/** One reload as every worker applied it. */
export interface FleetReload {
  /** Failures of every worker, each naming its worker; a worker that could not answer is one failure too. */
  readonly failed: readonly ReloadFailure[];
  readonly refreshed: readonly string[];
  /** A service as it runs after the reload (in any worker), for the config in force; undefined when none runs it. */
  running(name: string): ServiceConfig | undefined;
}

/**
 * Worker processes running the services while this process (the primary) keeps the config, reload, admin API,
 * ledger, Redis and request log (src/cluster/ implements it; the CLI passes one when `workers` > 1). A runtime
 * with a fleet starts no service of its own.
 */
export interface Fleet {
  start(config: Config, host: FleetHost): Promise<void>;
  /** Applies a validated config in every worker, one at a time being unnecessary: all at once, one result each. */
  reload(config: Config): Promise<FleetReload>;
  /** Services summed over the workers (the last status each reported). */
  services(): ServiceStatus[];
  serviceStatus(name: string): ServiceStatus | undefined;
  liveRelays(): number;
  /** The workers' relay engine (the first worker's), or null before any reported. */
  relayEngine(): { kind: 'native' | 'js'; fallback: string | null } | null;
  /** Per-worker state for `GET /status` (`workers`). */
  status(): unknown;
  caches(): Record<string, unknown>;
  /** Asks every worker to close a user's connections; returns how many the primary knows of (their last reports). */
  closeUser(id: string, reason: string): number;
  /** Tells every worker a user's period starts again (after the primary's ledger did). */
  resetUsage(id: string): void;
  routes(): AdminRoute[];
  /** Drains every worker and collects their last deltas. */
  stop(graceMs: number): Promise<void>;
}

export type { ReloadResult };
