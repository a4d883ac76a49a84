import { DEFAULTS } from '../../config/defaults.js';
import { NameResolver } from './name-resolver.js';

let fallback: NameResolver | null = null;

/** The runtime's resolver; services built without one (embedders, tests) share one with the default settings. */
export function resolverOf(context: { readonly resolver?: NameResolver } | null): NameResolver {
  if (context?.resolver !== undefined) return context.resolver;
  fallback ??= new NameResolver({ ...DEFAULTS.resolver });
  return fallback;
}
