/** One health-checked subject as the admin API, metrics and events see it (see src/health/). */
export interface HealthSnapshot {
  /** What is checked: `upstream`, later `target`, `channel`. */
  readonly kind: string;
  readonly name: string;
  /** Where it is (an address or a redacted URL). */
  readonly address: string;
  readonly up: boolean;
  /** Whether probes run (false: only real traffic tells). */
  readonly probed: boolean;
  readonly rise: number;
  readonly fall: number;
  /** Consecutive successes while down, or consecutive failures while up (HAProxy's "2/3" counters). */
  readonly streak: number;
  readonly checks: number;
  readonly failedChecks: number;
  /** Times it went down. */
  readonly downs: number;
  readonly lastError: string | null;
  /** ISO time of the last up/down change, or null. */
  readonly changedAt: string | null;
}
