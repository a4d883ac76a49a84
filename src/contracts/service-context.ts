import type { UserConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { ServiceAccounting } from './accounting.js';
import type { GeoResolver } from './geo-resolver.js';
import type { OwnListenerSet } from './own-listeners.js';
import type { RelayEngine } from './relay-engine.js';
import type { ServiceEvents } from './service-events.js';
import type { UsageLog } from './usage-log.js';

/**
 * What the runtime lends to every service. Each field is a contract implemented by a subsystem the service does not
 * import; a service type that needs more (the gateway's worker pool and body budget, the forward service's target
 * registry) declares its own context extending this one, and the runtime, which knows every subsystem, supplies it.
 */
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
  /** The batched request-log writer, when the runtime has a SQLite store. */
  readonly usageLog?: UsageLog | null;
  /** Every address:port tidegate listens on (proxy services refuse to dial them), kept current by the runtime. */
  readonly ownListeners?: OwnListenerSet | null;
}
