import { ConfigError } from '../errors.js';
import { DEFAULTS } from './defaults.js';
import { exposures } from './exposure.js';
import { readAdmin } from './sections/admin.js';
import { readGatewayLimits } from './sections/gateway-limits.js';
import { readGeo } from './sections/geo.js';
import { readPool } from './sections/pool.js';
import { readPricing } from './sections/prices.js';
import { readLog, readReload, readWorkers } from './sections/process.js';
import { readServices } from './sections/services.js';
import { readResolver } from './sections/resolver.js';
import { readReport } from './sections/report.js';
import { readStore } from './sections/store.js';
import { readUsers } from './sections/users.js';
import type { Config } from './types.js';
import { deepFreeze, Reader } from './validator.js';

export type * from './types.js';
export { BYPASS_CN_COUNTRIES } from './sections/proxy.js';

/** Default body budget: an eighth of the machine's memory, at most 256 MiB (kept for importers; see defaults.ts). */
export const DEFAULT_BODY_BUDGET_BYTES = DEFAULTS.gateway.bodyBudgetBytes;

const TOP_KEYS = [
  'admin', 'log', 'store', 'pool', 'geo', 'resolver', 'reload', 'gateway', 'shutdownGrace', 'users', 'services',
  'report', 'prices', 'pricesFile', 'unpriced', 'workers',
] as const;

/** A cost budget is summed from prices: it must be in their one currency. */
function checkBudgetCurrencies(r: Reader, config: Config): void {
  const currency = config.pricing.currency;
  config.users.forEach((u, i) => {
    const q = u.quota;
    if (q === null || q.costCurrency === null) return;
    if (currency === null) r.fail(`users[${i}].quota.cost`, 'a cost budget needs prices (prices: or pricesFile:)');
    else if (q.costCurrency !== currency) {
      r.fail(`users[${i}].quota.cost`, `the budget is in ${q.costCurrency} but prices are in ${currency}`);
    }
  });
}

/**
 * Validates a whole config document (after `${ENV}` expansion) and returns the normalized, frozen config, or
 * throws one ConfigError carrying every problem with its path. Each section has its reader in `sections/`; the
 * defaults they merge are in `defaults.ts`.
 */
export function validateConfig(doc: unknown, source?: string): Config {
  const r = new Reader();
  const top = r.object('', doc, TOP_KEYS);
  const users = readUsers(r, top.users);
  const config: Config = {
    admin: readAdmin(r, top.admin),
    log: readLog(r, top.log),
    store: readStore(r, top.store),
    pool: readPool(r, top.pool),
    geo: readGeo(r, top.geo),
    resolver: readResolver(r, top.resolver),
    reload: readReload(r, top.reload),
    gateway: readGatewayLimits(r, top.gateway),
    shutdownGraceMs: r.duration('shutdownGrace', top.shutdownGrace, DEFAULTS.shutdownGraceMs),
    users,
    services: readServices(r, top.services, users),
    pricing: readPricing(r, top.prices, top.pricesFile, top.unpriced, source),
    report: readReport(r, top.report),
    workers: readWorkers(r, top.workers),
  };
  checkBudgetCurrencies(r, config);
  if (config.report !== null && config.store.sqlite === null) {
    r.fail('report', 'pushed reports need store.sqlite: batches are kept there until the receiver acknowledges them');
  }
  for (const exposure of exposures(config)) if (!exposure.allowed) r.fail(exposure.path, exposure.message);
  if (r.issues.length > 0) throw new ConfigError(r.issues, source);
  return deepFreeze(config);
}
