/** Public API: run tidegate inside another program, or validate configs. */
import { documentToConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { createLogger, type Logger } from './log.js';
import { Runtime } from './runtime/runtime.js';

export { loadConfigFile, documentToConfig } from './config/load.js';
export { validateConfig } from './config/schema.js';
export type * from './config/schema.js';
export * from './errors.js';
export type { RateLimit } from './contracts/rate.js';
export type { CloseReason, Relay, RelayEngine, RelayOptions, RelayResult } from './contracts/relay-engine.js';
export type { RelayRecord } from './contracts/records.js';
export type { ServiceStatus } from './contracts/service-status.js';
export { Runtime, type ReloadFailure, type ReloadResult, type StatusBody } from './runtime/runtime.js';
export type { Accounting, AccountingStatus, QuotaBody, UsageBody } from './accounting/accounting.js';
export type { Refusal, RefusalReason, ServiceAccounting } from './contracts/accounting.js';
export type { SyncStatus } from './accounting/throttled-sync.js';
export type { RedisStatus } from './accounting/redis-store.js';

export interface CreateOptions {
  readonly log?: Logger;
}

/** Validates a config document (YAML/JSON already parsed, `${VAR}` expanded from process.env) and starts it. */
export async function createTidegate(
  config: Config | Record<string, unknown>, options: CreateOptions = {},
): Promise<Runtime> {
  const validated = isValidated(config) ? config : documentToConfig(config, 'createTidegate');
  return Runtime.start(validated, { log: options.log ?? createLogger(validated.log.level) });
}

function isValidated(config: Config | Record<string, unknown>): config is Config {
  return Object.isFrozen(config) && typeof (config as Config).shutdownGraceMs === 'number';
}
