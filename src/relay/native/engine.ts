import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { RelayHandoverError, RelayOptionError, ShuttingDownError } from '../../errors.js';
import type {
  CloseReason,
  RateLimit,
  Relay,
  RelayCloseListener,
  RelayEngine,
  RelayOptions,
  RelayResult,
} from '../engine.js';
import type { NativeEngineBinding, NativeEngineOptions, NativeEngineStats } from './binding.js';
import { detachSocket, isTlsSocket } from './handover.js';
import { RelayTable } from './relay-table.js';

/** Close reasons by the addon's numeric code (native/relay.h `Reason`). */
const REASONS: readonly CloseReason[] = [
  'done',
  'client_reset',
  'target_reset',
  'idle_timeout',
  'half_close_timeout',
  'closed',
  'shutdown',
];
const REASON_CODES: Readonly<Record<CloseReason, number>> = {
  done: 0,
  client_reset: 1,
  target_reset: 2,
  idle_timeout: 3,
  half_close_timeout: 4,
  closed: 5,
  shutdown: 6,
};
const EMPTY = Buffer.alloc(0);

type RelayState = 'flushing' | 'live' | 'closing' | 'closed';

/** A relay running in the addon. Counters come from stats batches: at most ~100 ms stale while live, exact at close. */
class NativeRelay implements Relay {
  readonly id: number;
  serviceSlot = -1;
  bytesIn = 0;
  bytesOut = 0;
  readonly startedAt: number;
  state: RelayState = 'flushing';
  /** Set while the sockets are still Node's (waiting for their write queues to flush). */
  client: Socket | null;
  target: Socket | null;
  readonly options: RelayOptions;
  readonly onClose: RelayCloseListener;
  readonly engine: NativeRelayEngine;

  constructor(engine: NativeRelayEngine, id: number, client: Socket, target: Socket, options: RelayOptions, onClose: RelayCloseListener) {
    this.id = id;
    this.startedAt = performance.now();
    this.client = client;
    this.target = target;
    this.options = options;
    this.onClose = onClose;
    this.engine = engine;
  }

  close(reason: CloseReason = 'closed'): void {
    this.engine.closeRelay(this, reason);
  }
}

class NativeRateLimit implements RateLimit {
  readonly id: number;
  disposed = false;
  readonly #binding: NativeEngineBinding;

  constructor(binding: NativeEngineBinding, id: number) {
    this.#binding = binding;
    this.id = id;
  }

  set(inBytesPerSec: number, outBytesPerSec: number): void {
    if (this.disposed) throw new RelayOptionError(`rate limit ${this.id} was disposed`);
    this.#binding.setLimit(this.id, checkRate('in', inBytesPerSec), checkRate('out', outBytesPerSec));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.#binding.disposeLimit(this.id);
  }
}

function checkRate(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RelayOptionError(`rate ${name}: expected bytes per second >= 0 (0 = unlimited), got ${String(value)}`);
  }
  return Math.floor(value);
}

function checkMs(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RelayOptionError(`${name}: expected milliseconds >= 0, got ${String(value)}`);
  }
  return Math.floor(value);
}

/** Counters of the JS side, for tests and the status page. */
export interface NativeDeliveryStats {
  /** Stats batches received from the addon's ThreadSafeFunction. */
  readonly deliveries: number;
  /** Records in them (live updates and closes). */
  readonly records: number;
}

/**
 * The splice relay engine: sockets are handed to the addon (native/), which relays them on its own epoll thread.
 * JS only keeps a small record per relay and receives counters in batches.
 */
export class NativeRelayEngine implements RelayEngine {
  readonly kind = 'native' as const;
  readonly #binding: NativeEngineBinding;
  readonly #relays = new RelayTable<NativeRelay>();
  readonly #limits = new Set<NativeRateLimit>();
  #shuttingDown = false;
  #idleWaiters: Array<() => void> = [];
  #deliveries = 0;
  #records = 0;
  #refd = false;

  constructor(construct: new (onStats: (records: Float64Array) => void, options: NativeEngineOptions) => NativeEngineBinding, options: NativeEngineOptions = {}) {
    this.#binding = new construct(this.#onStats.bind(this), options);
  }

  get liveCount(): number {
    return this.#relays.size;
  }

  start(client: Socket, target: Socket, options: RelayOptions, onClose: RelayCloseListener): Relay {
    if (this.#shuttingDown) throw new ShuttingDownError('the native relay engine is shut down and accepts no relays');
    if (isTlsSocket(client) || isTlsSocket(target)) {
      // A programming error, refused before taking the sockets: TLS pairs need the JavaScript engine.
      throw new RelayHandoverError('the native relay moves raw fds and cannot relay a TLS socket; use the JavaScript engine for TLS pairs');
    }
    checkMs('idleTimeoutMs', options.idleTimeoutMs);
    checkMs('halfCloseTimeoutMs', options.halfCloseTimeoutMs);
    const limit = options.rateLimit;
    if (limit !== null && !(limit instanceof NativeRateLimit && !limit.disposed && this.#limits.has(limit))) {
      throw new RelayOptionError('rateLimit: expected a limit created by this engine and not disposed');
    }
    const id = this.#relays.nextId();
    const relay = new NativeRelay(this, id, client, target, options, onClose);
    this.#relays.set(id, relay);
    this.#updateRef();
    if (client.writableLength > 0 || target.writableLength > 0) {
      this.#handOverWhenFlushed(relay);
    } else {
      this.#handOver(relay);
    }
    return relay;
  }

  createRateLimit(inBytesPerSec: number, outBytesPerSec: number): RateLimit {
    if (this.#shuttingDown) throw new ShuttingDownError('the native relay engine is shut down');
    const id = this.#binding.createLimit(checkRate('in', inBytesPerSec), checkRate('out', outBytesPerSec));
    const limit = new NativeRateLimit(this.#binding, id);
    this.#limits.add(limit);
    return limit;
  }

  async shutdown(): Promise<void> {
    if (!this.#shuttingDown) {
      this.#shuttingDown = true;
      for (const relay of this.#relays.values()) {
        if (relay.state === 'flushing') this.#finishUnhanded(relay, 'shutdown');
      }
      // Joins the loop threads; every live relay's `shutdown` record is queued to #onStats already.
      this.#binding.shutdown();
      this.#limits.clear();
    }
    if (this.#relays.size === 0) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Addon counters (pipes, relays) for tests and status. */
  nativeStats(): NativeEngineStats {
    return this.#binding.stats();
  }

  deliveryStats(): NativeDeliveryStats {
    return { deliveries: this.#deliveries, records: this.#records };
  }

  /** @internal called by NativeRelay.close */
  closeRelay(relay: NativeRelay, reason: CloseReason): void {
    if (relay.state === 'closed' || relay.state === 'closing') return;
    if (!Object.hasOwn(REASON_CODES, reason)) throw new RelayOptionError(`close reason: expected one of ${REASONS.join(', ')}, got ${String(reason)}`);
    if (relay.state === 'flushing') {
      this.#finishUnhanded(relay, reason);
      return;
    }
    relay.state = 'closing';
    this.#binding.close(relay.id, REASON_CODES[reason]);
  }

  /** Both sockets still have bytes queued in Node: hand over once they reached the kernel, so none are lost. */
  #handOverWhenFlushed(relay: NativeRelay): void {
    const client = relay.client!;
    const target = relay.target!;
    let waiting = 0;
    const onFlushed = (): void => {
      if (--waiting === 0 && relay.state === 'flushing') {
        client.removeListener('close', onClientGone);
        target.removeListener('close', onTargetGone);
        this.#handOver(relay);
      }
    };
    const onClientGone = (): void => this.#finishUnhanded(relay, 'client_reset');
    const onTargetGone = (): void => this.#finishUnhanded(relay, 'target_reset');
    client.once('close', onClientGone);
    target.once('close', onTargetGone);
    client.on('error', noop);
    target.on('error', noop);
    for (const socket of [client, target]) {
      if (socket.writableLength > 0) {
        waiting++;
        // A write's callback runs after every earlier write completed: an empty one marks the flush.
        socket.write(EMPTY, onFlushed);
      }
    }
  }

  #handOver(relay: NativeRelay): void {
    const client = relay.client!;
    const target = relay.target!;
    relay.client = null;
    relay.target = null;
    let side: 'client' | 'target' = 'client';
    try {
      const c = detachSocket(client);
      side = 'target';
      const t = detachSocket(target);
      const limit = relay.options.rateLimit as NativeRateLimit | null;
      side = 'client';
      this.#binding.start(
        relay.id,
        c.fd,
        t.fd,
        c.pending,
        t.pending,
        Math.floor(relay.options.idleTimeoutMs),
        Math.floor(relay.options.halfCloseTimeoutMs),
        limit !== null && !limit.disposed ? limit.id : 0,
      );
      relay.state = 'live';
    } catch (err) {
      if (!(err instanceof Error)) throw err;
      // A side that died before the hand-over (or an fd the addon could not take) ends the relay as that side's reset.
      relay.client = client;
      relay.target = target;
      this.#finishUnhanded(relay, side === 'client' ? 'client_reset' : 'target_reset');
      return;
    }
    // The addon owns dups of both fds now; Node's sockets go away at once so only one side owns close().
    client.on('error', noop);
    target.on('error', noop);
    client.destroy();
    target.destroy();
  }

  /** Ends a relay that never reached the addon. */
  #finishUnhanded(relay: NativeRelay, reason: CloseReason): void {
    if (relay.state !== 'flushing') return;
    relay.state = 'closed';
    const client = relay.client;
    const target = relay.target;
    relay.client = null;
    relay.target = null;
    if (client !== null && target !== null) {
      client.on('error', noop);
      target.on('error', noop);
      if (reason === 'client_reset') resetOrDestroy(target);
      else target.destroy();
      if (reason === 'target_reset') resetOrDestroy(client);
      else client.destroy();
    }
    this.#finish(relay, reason);
  }

  #onStats(records: Float64Array): void {
    this.#deliveries++;
    this.#records += records.length / 4;
    for (let i = 0; i + 3 < records.length; i += 4) {
      const relay = this.#relays.get(records[i]!);
      if (relay === undefined) continue;
      relay.bytesIn = records[i + 1]!;
      relay.bytesOut = records[i + 2]!;
      const code = records[i + 3]!;
      if (code >= 0) {
        relay.state = 'closed';
        this.#finish(relay, REASONS[code] ?? 'closed');
      }
    }
  }

  #finish(relay: NativeRelay, reason: CloseReason): void {
    this.#relays.delete(relay.id);
    this.#updateRef();
    const result: RelayResult = {
      bytesIn: relay.bytesIn,
      bytesOut: relay.bytesOut,
      reason,
      durationMs: performance.now() - relay.startedAt,
    };
    try {
      relay.onClose(relay, result);
    } catch (err) {
      // A listener's error must not cost the other relays of this batch their close: surface it asynchronously.
      process.nextTick(rethrow, err);
    }
    if (this.#relays.size === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Live relays keep the process alive (as their sockets would); an idle engine never does. */
  #updateRef(): void {
    const want = this.#relays.size > 0 && !this.#shuttingDown;
    if (want === this.#refd) return;
    this.#refd = want;
    if (want) this.#binding.ref();
    else this.#binding.unref();
  }
}

function noop(): void {}

/** Passes a reset on where the socket is TCP (resetAndDestroy throws for other handles, e.g. Unix sockets). */
function resetOrDestroy(socket: Socket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

function rethrow(err: unknown): never {
  throw err;
}
