import type { AdminRoute } from '../admin/server.js';
import { errorBody } from '../admin/server.js';
import { AdminNotFoundError, ConfigError, ConfigReadError, ReloadBusyError, TidegateError } from '../errors.js';
import type { Accounting } from '../accounting/accounting.js';

/** What the admin endpoints read and do. The Runtime is one; the routes never see the class (no import circle). */
export interface AdminSubject {
  status(): { readonly services: readonly unknown[] };
  caches(): unknown;
  reloadFromSource(): Promise<unknown>;
  readonly accounting: Pick<Accounting, 'syncStatus' | 'usage' | 'metrics'>;
}

/** The admin endpoints, each a thin read of the runtime. */
export function adminRoutes(runtime: AdminSubject): AdminRoute[] {
  return [
    { method: 'GET', path: '/status', handle: () => ({ status: 200, body: runtime.status() }) },
    { method: 'GET', path: '/services', handle: () => ({ status: 200, body: runtime.status().services }) },
    { method: 'GET', path: '/sync', handle: () => ({ status: 200, body: runtime.accounting.syncStatus() }) },
    {
      method: 'GET',
      path: '/users/:id/usage',
      handle(params) {
        const usage = runtime.accounting.usage(params.id!);
        if (usage === null) throw new AdminNotFoundError(`no user "${params.id}" in the config`);
        return { status: 200, body: usage };
      },
    },
    {
      method: 'GET',
      path: '/metrics',
      async handle() {
        const registry = runtime.accounting.metrics;
        return { status: 200, body: await registry.metrics(), contentType: registry.contentType };
      },
    },
    { method: 'GET', path: '/cache', handle: () => ({ status: 200, body: runtime.caches() }) },
    {
      method: 'POST',
      path: '/reload',
      async handle() {
        try {
          // Applied, maybe in part: `ok` and `failed` tell which (a port in use is not a server error).
          const result = await runtime.reloadFromSource();
          return { status: 200, body: result };
        } catch (err) {
          if (err instanceof ConfigError) {
            return { status: 422, body: errorBody(err.code, err.message, { issues: err.issues }) };
          }
          if (err instanceof ConfigReadError) return { status: 422, body: errorBody(err.code, err.message) };
          if (err instanceof ReloadBusyError) return { status: 409, body: errorBody(err.code, err.message) };
          if (err instanceof TidegateError) return { status: 400, body: errorBody(err.code, err.message) };
          throw err;
        }
      },
    },
  ];
}
