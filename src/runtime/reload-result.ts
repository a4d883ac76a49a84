/** What a reload reports (the admin API's `POST /reload` body). */
export interface ReloadResult {
  readonly ok: boolean;
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  readonly unchanged: readonly string[];
  /**
   * What was read again because its files changed although its config did not: `geo` (geo.lists or the database
   * file) and services whose rule-set files changed.
   */
  readonly refreshed: readonly string[];
  /** Services whose change could not be applied (e.g. port in use); every other change still applied. */
  readonly failed: readonly ReloadFailure[];
}

/**
 * A service (or the admin API) a reload could not start; it is not in the config in force, so the next reload
 * retries it.
 */
export interface ReloadFailure {
  readonly service: string;
  /** The address it could not bind, as configured. */
  readonly address: string;
  readonly code: string;
  readonly message: string;
  /** The worker process that failed to apply it (with `workers` > 1); absent in one process. */
  readonly worker?: number;
}
