import { DEFAULTS } from './defaults.js';
import { validateConfig, type Config } from './schema.js';

/**
 * The embedded default: `tidegate start` with no config runs the admin API on 127.0.0.1:9090 with SQLite under
 * ./data/ and no services (add some with --forward or a config file). examples/tidegate.yaml shows a real config.
 */
export function defaultConfigDocument(): Record<string, unknown> {
  return {
    admin: {
      listen: process.env.TIDEGATE_ADMIN_LISTEN ?? DEFAULTS.admin.listen, token: process.env.TIDEGATE_ADMIN_TOKEN ?? '',
    },
    store: { sqlite: DEFAULTS.store.sqlite, redis: process.env.REDIS_URL ?? '' },
    services: [],
  };
}

export function defaultConfig(): Config {
  return validateConfig(defaultConfigDocument(), 'embedded default');
}
