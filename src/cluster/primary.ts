import { autoThreads } from '../config/sections/pool.js';
import type { Config } from '../config/schema.js';
import { JsRelayEngine } from '../relay/js/engine.js';
import { Runtime, type RuntimeOptions } from '../runtime/runtime.js';
import { WorkerFleet } from './fleet.js';

export { WorkerFleet } from './fleet.js';

/**
 * Starts tidegate as the primary of `workers` worker processes: this process loads and validates the config and
 * keeps the admin API, reload, ledger, Redis and request log; the workers run the services. The primary relays
 * nothing, so it takes the JavaScript engine (no native threads) for the byte budgets accounting keeps.
 */
export async function startPrimary(
  config: Config, options: RuntimeOptions, workers: number,
): Promise<{ runtime: Runtime; fleet: WorkerFleet }> {
  const fleet = new WorkerFleet({ workers, log: options.log, autoPoolThreads: autoThreads() });
  const runtime = await Runtime.start(config, { ...options, fleet, engine: new JsRelayEngine() });
  return { runtime, fleet };
}
