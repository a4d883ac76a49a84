import type { Logger } from '../log.js';

/** The first restart after a quiet spell is at once; faults that keep coming space restarts 1 s doubling to 30 s. */
const FIRST_GAP_MS = 1_000;
const LAST_GAP_MS = 30_000;
/** No fault for this long: the next one restarts at once again. */
const QUIET_MS = 60_000;

/** What `/status` shows of a service's handler faults (`detail.handler`). */
export interface HandlerRecoveryStatus {
  readonly faults: number;
  readonly restarts: number;
  readonly restarting: boolean;
  readonly lastError: string | null;
  readonly lastFaultAt: number | null;
}

/**
 * Graduated recovery of one service whose handler threw unexpectedly. The guard around the handler has already
 * closed the connection that hit it (step one); here the service is restarted alone (step two): its listener is
 * re-created, a fresh server bound on the same address, while live connections finish on the old one. Never the
 * process, never another service. Faults that keep coming space the restarts (1 s doubling to 30 s), so a request
 * that always throws cannot make the listener flap; each fault and restart is logged and counted.
 */
export class HandlerRecovery {
  private readonly service: string;
  private readonly log: () => Logger;
  private readonly restart: () => Promise<void>;
  faults = 0;
  restarts = 0;
  restarting = false;
  lastError: string | null = null;
  lastFaultAt: number | null = null;
  private gapMs = 0;
  private lastRestartAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(service: string, log: () => Logger, restart: () => Promise<void>) {
    this.service = service;
    this.log = log;
    this.restart = restart;
  }

  /** The handler threw `err` (already logged by the guard): count it and restart the service when due. */
  faulted(err: unknown): void {
    const now = Date.now();
    this.faults++;
    this.lastError = err instanceof Error ? err.message.slice(0, 200) : String(err).slice(0, 200);
    this.lastFaultAt = now;
    if (this.stopped || this.restarting || this.timer !== null) return;
    if (now - this.lastRestartAt >= QUIET_MS) this.gapMs = 0;
    const delay = Math.max(0, this.lastRestartAt + this.gapMs - now);
    this.gapMs = this.gapMs === 0 ? FIRST_GAP_MS : Math.min(LAST_GAP_MS, this.gapMs * 2);
    this.log().error(
      { service: this.service, faults: this.faults, inMs: delay },
      'service handler failed unexpectedly: restarting the service alone',
    );
    this.timer = setTimeout(restartService, delay, this);
  }

  /** @internal the gap passed */
  async run(): Promise<void> {
    this.timer = null;
    if (this.stopped) return;
    this.restarting = true;
    this.lastRestartAt = Date.now();
    try {
      await this.restart();
      this.restarts++;
      this.log().info({ service: this.service, restarts: this.restarts }, 'service restarted after a handler fault');
    } catch (err) {
      // The listener's own recovery (re-bind with back-off) takes over from here.
      this.log().error(
        { service: this.service, err: err instanceof Error ? err.message : String(err) },
        'service restart after a handler fault failed',
      );
    } finally {
      this.restarting = false;
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  status(): HandlerRecoveryStatus {
    const { faults, restarts, restarting, lastError, lastFaultAt } = this;
    return { faults, restarts, restarting, lastError, lastFaultAt };
  }
}

function restartService(recovery: HandlerRecovery): void {
  void recovery.run();
}
