import type { ServiceType } from '../config/types.js';

export type ServiceState = 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

/** What a service reports about itself, for the admin API. */
export interface ServiceStatus {
  readonly name: string;
  readonly type: ServiceType;
  readonly listen: string;
  readonly state: ServiceState;
  readonly connections: { readonly live: number; readonly total: number; readonly refused: number };
  readonly bytes: { readonly in: number; readonly out: number };
  /** Service-specific detail (targets and their health, channels, breakers …). */
  readonly detail?: Record<string, unknown>;
}
