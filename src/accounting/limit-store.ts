import type { SharedLimits } from '../contracts/accounting.js';

/** `/status` `accounting.limits` of a shared limit store. */
export interface LimitStoreStatus {
  readonly store: 'redis' | 'primary';
  readonly state: 'shared' | 'local';
  /** Admissions decided in this process because the store failed or timed out. */
  readonly fallbacks: number;
  readonly lastError: string | null;
}

/** Where gateway limits are shared (Redis between instances, a fleet's primary between workers), with a lifecycle. */
export interface LimitStore extends SharedLimits {
  connect(): Promise<void>;
  close(): Promise<void>;
  status(): LimitStoreStatus;
}
