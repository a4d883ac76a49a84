import type { HealthSnapshot } from '../contracts/health.js';
import { RiseFall } from './rise-fall.js';

/** How often and how strictly a subject is checked; intervalMs 0: never probed (traffic alone tells). */
export interface HealthSettings {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly rise: number;
  readonly fall: number;
}

/** One check of a subject: resolves when healthy, rejects with the reason otherwise; `signal` aborts at timeout. */
export type Probe = (signal: AbortSignal) => Promise<void>;

/** Told when a subject goes up or down. */
export type HealthListener = (check: HealthCheck, up: boolean) => void;

/**
 * The health of one subject (an upstream proxy, a forward target, a gateway channel): probes it every interval with
 * its own timer (unref'd, one probe in flight at most), counts rise/fall over the probes and over what real traffic
 * reports through `observe`, and tells the listener when the state flips.
 */
export class HealthCheck {
  readonly kind: string;
  readonly name: string;
  readonly address: string;
  private settings: HealthSettings;
  private readonly probe: Probe;
  private readonly state: RiseFall;
  private readonly listener: HealthListener | null;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: AbortController | null = null;
  private stopped = true;
  checks = 0;
  failedChecks = 0;
  downs = 0;
  lastError: string | null = null;
  changedAt: number | null = null;

  constructor(
    kind: string, name: string, address: string, settings: HealthSettings, probe: Probe,
    listener: HealthListener | null = null,
  ) {
    this.kind = kind;
    this.name = name;
    this.address = address;
    this.settings = settings;
    this.probe = probe;
    this.state = new RiseFall(settings.rise, settings.fall);
    this.listener = listener;
  }

  get up(): boolean {
    return this.state.up;
  }

  get probed(): boolean {
    return this.settings.intervalMs > 0;
  }

  /** Starts the probes (the first after one interval; a subject starts up). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.inFlight?.abort(new Error('health check stopped'));
    this.inFlight = null;
  }

  /** New settings (a reload): the state and its counters carry over. */
  configure(settings: HealthSettings): void {
    this.settings = settings;
    this.state.rise = Math.max(1, settings.rise);
    this.state.fall = Math.max(1, settings.fall);
    if (this.stopped) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.inFlight === null) this.schedule();
  }

  /**
   * What real traffic saw: a failure counts as a failed check; a success of an unprobed subject brings it up (with
   * probes, only they bring a down subject back, after `rise` of them).
   */
  observe(ok: boolean, error?: Error): void {
    if (ok) {
      if (!this.probed) this.apply(this.state.set(true), true);
      return;
    }
    this.lastError = error?.message ?? 'failed';
    this.apply(this.probed ? this.state.record(false) : this.state.set(false), false);
  }

  /** Runs one probe now (tests and `schedule`); resolves once it is counted. */
  async checkNow(): Promise<boolean> {
    if (this.inFlight !== null) return this.up;
    const abort = new AbortController();
    this.inFlight = abort;
    const timer = setTimeout(abortProbe, this.settings.timeoutMs, abort);
    let ok = true;
    try {
      await this.probe(abort.signal);
    } catch (err) {
      ok = false;
      this.lastError = (err as Error).message;
    } finally {
      clearTimeout(timer);
    }
    if (this.inFlight !== abort) return this.up; // stopped meanwhile
    this.inFlight = null;
    this.checks++;
    if (!ok) this.failedChecks++;
    this.apply(this.state.record(ok), ok);
    return this.up;
  }

  snapshot(): HealthSnapshot {
    return {
      kind: this.kind,
      name: this.name,
      address: this.address,
      up: this.state.up,
      probed: this.probed,
      rise: this.state.rise,
      fall: this.state.fall,
      streak: this.state.streak,
      checks: this.checks,
      failedChecks: this.failedChecks,
      downs: this.downs,
      lastError: this.lastError,
      changedAt: this.changedAt === null ? null : new Date(this.changedAt).toISOString(),
    };
  }

  private apply(changed: boolean, up: boolean): void {
    if (!changed) return;
    this.changedAt = Date.now();
    if (!up) this.downs++;
    this.listener?.(this, up);
  }

  private schedule(): void {
    if (this.stopped || !this.probed) return;
    this.timer = setTimeout(runScheduledProbe, this.settings.intervalMs, this);
    this.timer.unref();
  }

  /** @internal the timer fired. */
  scheduled(): void {
    this.timer = null;
    void this.checkNow().then(this.rescheduleBound);
  }

  private readonly rescheduleBound = (): void => {
    if (this.timer === null && this.inFlight === null) this.schedule();
  };
}

function runScheduledProbe(check: HealthCheck): void {
  check.scheduled();
}

function abortProbe(abort: AbortController): void {
  abort.abort(new Error('health check timed out'));
}
