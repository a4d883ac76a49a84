import type { ServiceContext } from '../contracts/service-context.js';
import type { WorkerPool } from '../pool/pool.js';
import type { BodyBudget } from './body-budget.js';

/** What the runtime lends a gateway service: the shared context, plus the worker pool and the shared body budget. */
export interface GatewayContext extends ServiceContext {
  /** The worker pool (JSON parse/convert offload), when the runtime runs one. */
  readonly pool?: WorkerPool | null;
  /** The request-body budget all gateway services share (`gateway.bodyBudget`, `gateway.bodyTimeout`). */
  readonly bodyBudget?: BodyBudget;
}
