import type { ServiceContext } from '../contracts/service-context.js';
import type { NameResolver } from './resolver/name-resolver.js';
import type { TargetRegistry } from './target-registry.js';

/** What the runtime lends a forward service: the shared context, plus the targets kept across reloads. */
export interface ForwardContext extends ServiceContext {
  /** Forward targets by service and address, kept across reloads (a service without one keeps its own). */
  readonly targets?: TargetRegistry;
  /** Names of proxy destinations and forward targets (the runtime's, configured by `resolver:`). */
  readonly resolver?: NameResolver;
}
