import type { HostPort } from '../util/address.js';
import type { Config, ServiceConfig } from './types.js';

/** What a reload changes, by service name. */
export interface ConfigDiff {
  readonly added: readonly ServiceConfig[];
  readonly removed: readonly ServiceConfig[];
  /** Same name, different settings: applied in place or by replacement, as the service decides. */
  readonly changed: readonly { readonly before: ServiceConfig; readonly after: ServiceConfig }[];
  readonly unchanged: readonly ServiceConfig[];
  /** Users, admin, store, pool, geo or resolver settings differ. */
  readonly sharedChanged: readonly string[];
}

export function diffConfig(before: Config, after: Config): ConfigDiff {
  const old = new Map(before.services.map((s) => [s.name, s]));
  const next = new Map(after.services.map((s) => [s.name, s]));
  const added: ServiceConfig[] = [];
  const changed: { before: ServiceConfig; after: ServiceConfig }[] = [];
  const unchanged: ServiceConfig[] = [];
  for (const [name, svc] of next) {
    const prev = old.get(name);
    if (!prev) added.push(svc);
    else if (sameSettings(prev, svc)) unchanged.push(svc);
    else changed.push({ before: prev, after: svc });
  }
  const removed = [...old.values()].filter((s) => !next.has(s.name));
  const shared = [
    'admin', 'log', 'store', 'pool', 'geo', 'resolver', 'reload', 'shutdownGraceMs', 'users', 'report',
  ] as const;
  const sharedChanged = shared.filter(
    (key) => !sameSettings(before[key], after[key]),
  );
  return { added, removed, changed, unchanged, sharedChanged };
}

/**
 * The config in force after a reload that could not apply everything: `next`, with each service as it actually runs
 * (`running(name)`: the new settings, the old ones while a failed replacement's old listener still runs, or nothing
 * when no listener runs under that name) and the admin address actually bound. The next reload diffs against it, so
 * whatever failed is added or changed again, i.e. retried, and whatever failed can be removed.
 */
export function configInForce(
  next: Config, adminListen: HostPort | null, running: (name: string) => ServiceConfig | undefined,
): Config {
  const services: ServiceConfig[] = [];
  for (const svc of next.services) {
    const actual = running(svc.name);
    if (actual !== undefined) services.push(actual);
  }
  const admin = sameSettings(adminListen, next.admin.listen)
    ? next.admin
    : Object.freeze({ ...next.admin, listen: adminListen });
  return Object.freeze({ ...next, admin, services: Object.freeze(services) });
}

/**
 * Validated configs are plain data built by one validator, so key order is stable and JSON is an exact comparison
 * (unlike util.isDeepStrictEqual, it sees the href inside URL objects).
 */
export function sameSettings(a: unknown, b: unknown): boolean {
  // Items an admin API change did not touch are the same frozen objects: no need to print 10,000 users twice.
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && JSON.stringify(a[i]) !== JSON.stringify(b[i])) return false;
    return true;
  }
  return JSON.stringify(a) === JSON.stringify(b);
}
