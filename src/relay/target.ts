import { connect, isIP } from 'node:net';
import type { TargetHealthConfig } from '../config/schema.js';
import type { DialAddress } from '../contracts/relay-engine.js';
import { HealthCheck } from '../health/health-check.js';
import { sendExpect } from '../health/send-expect.js';
import { probeTcp } from '../health/tcp-probe.js';
import type { HostPort } from '../util/address.js';

const MAX_BACKOFF_FACTOR = 30;

/**
 * One upstream of a forward service: its live relay count and its health. There is one object per service and
 * address for as long as a pool lists it or a relay holds it (see TargetRegistry), so both survive reloads, and a
 * relay gives its count back to the object it took it from.
 *
 * Without `health`, a target that fails is marked down with an exponential back-off and probed in the background
 * while a pool lists it. With `health`, it is probed every interval while a pool lists it and its state is the
 * check's rise/fall count, failed connects counting as failed checks. A dead target never restarts anything, it is
 * simply tried last until a probe (or, unchecked, a relay) reaches it.
 */
export class Target {
  readonly address: HostPort;
  readonly label: string;
  live = 0;
  failures = 0;
  /** `Date.now()` until which the target is skipped while others are up. */
  downUntil = 0;
  /** Open pools listing this target: probes run only while some do, and the registry forgets it at 0 (and live 0). */
  pools = 0;
  /** The back-off base and the probe's connect timeout, from the newest pool that lists the target. */
  backoffMs = 0;
  connectTimeoutMs = 0;
  probeTimer: NodeJS.Timeout | null = null;
  /** The relay engine's form of the address, when the engine dials targets itself (see ForwardService). */
  dialAddress: DialAddress | null = null;
  /** Whether the host is a name (dialed through the resolver) rather than an IP literal. */
  readonly named: boolean;
  /** The active check (the service's `health`), or null. */
  health: HealthCheck | null = null;
  private healthConfig: TargetHealthConfig | null = null;
  /** Told when `up` may have flipped: the service takes back admissions it decided ahead on the old state. */
  onChange: (() => void) | null = null;

  constructor(address: HostPort, label: string) {
    this.address = address;
    this.label = label;
    this.named = isIP(address.host) === 0;
  }

  get up(): boolean {
    return this.health !== null ? this.health.up : this.failures === 0;
  }

  markUp(): void {
    const was = this.up;
    this.failures = 0;
    this.downUntil = 0;
    this.stopProbe();
    if (!was) this.changed();
  }

  markDown(err?: Error): void {
    if (this.health !== null) {
      // Counted like a failed check; the probes alone bring it back after `rise` good ones.
      this.failures++;
      this.health.observe(false, err);
      return;
    }
    this.failures++;
    const wait = this.backoffMs * Math.min(2 ** (this.failures - 1), MAX_BACKOFF_FACTOR);
    this.downUntil = Date.now() + wait;
    if (this.probeTimer === null && this.pools > 0) this.scheduleProbe(wait);
    if (this.failures === 1) this.changed();
  }

  /** A pool lists the target again: a down target without a probe gets one when its back-off ends. */
  resumeProbe(): void {
    if (this.health !== null) this.health.start();
    else if (!this.up && this.probeTimer === null) this.scheduleProbe(Math.max(0, this.downUntil - Date.now()));
  }

  stopProbe(): void {
    if (this.probeTimer !== null) {
      clearTimeout(this.probeTimer);
      this.probeTimer = null;
    }
  }

  /** The newest pool's `health` (a reload): the check and its state carry over while it stays on. */
  configureHealth(config: TargetHealthConfig | null): void {
    if (config === null) {
      if (this.health !== null) {
        this.health.stop();
        this.health = null;
        this.failures = 0;
        this.changed();
      }
      this.healthConfig = null;
      return;
    }
    const old = this.healthConfig;
    const sameProbe = old !== null && old.type === config.type && old.send === config.send
      && old.expect === config.expect;
    this.healthConfig = config;
    if (this.health !== null && sameProbe) {
      this.health.configure(config);
      return;
    }
    this.health?.stop();
    this.stopProbe();
    const talk = config.type === 'send-expect' ? sendExpect(config.send, config.expect) : null;
    const { host, port } = this.address;
    this.health = new HealthCheck('target', this.label, this.label, config, function checkTarget(signal) {
      return probeTcp(host, port, signal, talk);
    }, this.changed.bind(this));
    this.changed();
    if (this.pools > 0) this.health.start();
  }

  /** No pool lists the target any more: its probes stop. */
  idle(): void {
    this.stopProbe();
    this.health?.stop();
  }

  private changed(): void {
    this.onChange?.();
  }

  private scheduleProbe(waitMs: number): void {
    this.probeTimer = setTimeout(probeTarget, waitMs, this);
    this.probeTimer.unref();
  }
}

function probeTarget(target: Target): void {
  target.probeTimer = null;
  if (target.pools === 0 || target.up) return;
  const socket = connect({ host: target.address.host, port: target.address.port, timeout: target.connectTimeoutMs });
  socket.once('connect', function probeSucceeded() {
    socket.destroy();
    target.markUp();
  });
  socket.once('timeout', function probeTimedOut() {
    socket.destroy(new Error('probe timeout'));
  });
  socket.once('error', function probeFailed() {
    if (target.pools > 0) target.markDown();
  });
}
