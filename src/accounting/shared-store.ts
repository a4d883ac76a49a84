import type { RedisStatus } from './redis-store.js';
import type { Subject, UserAccount } from './subject.js';

/**
 * Where counter deltas are shared beyond this process and other processes' usage comes back from: Redis (instances
 * sharing quotas), or the primary of a worker fleet (src/cluster/). Either sends each subject's `redisPending` and
 * `redisCarried` deltas in batches and raises users' `usedIn`/`usedOut` (never lowers them) to the shared totals.
 */
export interface SharedCounterStore {
  readonly connected: boolean;
  connect(): Promise<void>;
  /** The users whose shared usage matters (those with a quota). */
  setUsers(users: UserAccount[]): void;
  markDirty(subject: Subject): void;
  /** Brings new users' usage up to the shared totals before services admit them. */
  loadUsers(users: readonly UserAccount[]): Promise<void>;
  /** Sends what is pending now; resolves once the other side has it (or failed). */
  sync(): Promise<void>;
  /** Sends the last deltas and disconnects. */
  close(): Promise<void>;
  status(): RedisStatus;
  /**
   * How many processes spend a user's remaining quota at once (a fleet's workers): each engine budget gets this
   * share of what is left, so they cannot all spend the whole of it before hearing of each other. 1 or absent: all.
   */
  readonly budgetShare?: number;
  /** A user's live relays went up or down (a fleet's primary shows the sum in `GET /users/:id/usage`). */
  liveChanged?(user: UserAccount): void;
}
