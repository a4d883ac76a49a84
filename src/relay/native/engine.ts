import type { Server, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { getSystemErrorName } from 'node:util';
import { ConnectTimeoutError, RelayHandoverError, RelayOptionError, ShuttingDownError } from '../../errors.js';
import type { HostPort } from '../../util/address.js';
import type {
  AcceptListener,
  ClientOptions,
  CloseReason,
  DialAddress,
  DialingRelay,
  DialOptions,
  EngineListener,
  GrantedRelay,
  RelayCloseListener,
  RelayDialListener,
  RelayEngine,
  RelayOptions,
  RelayResult,
  SettleHow,
} from '../../contracts/relay-engine.js';
import type { ByteBudget, RateLimit } from '../../contracts/rate.js';
import type { NativeEngineBinding, NativeEngineOptions, NativeEngineStats } from './binding.js';
import { detachSocket, isTlsSocket, listeningFd } from './handover.js';
import {
  CLOSE_REASONS,
  CloseReasonCode,
  DialArg,
  type DialArgs,
  GrantArg,
  Limit,
  newDialArgs,
  newGrantArgs,
  newRedialArgs,
  newStartArgs,
  RECORD_FIELDS,
  RecordCode,
  RecordField,
  RedialArg,
  SettleHow as SettleHowCode,
  StartArg,
} from './protocol.js';
import { RelayTable } from './relay-table.js';

const EMPTY = Buffer.alloc(0);

/**
 * `flushing`: Node still owns the sockets; `dialing`: the addon is connecting to (or waiting for) a target;
 * `granted`: decided ahead for a listener's next connection (`grant`), not taken by one yet.
 */
type RelayState = 'granted' | 'flushing' | 'dialing' | 'live' | 'closing' | 'closed';

/** A relay running in the addon. Counters come from stats batches: at most ~100 ms stale while live, exact at close. */
class NativeRelay implements DialingRelay, GrantedRelay {
  readonly id: number;
  ownerSlot = -1;
  bytesIn = 0;
  bytesOut = 0;
  readonly startedAt: number;
  state: RelayState;
  /** False while an engine-side dial has not reached a target. */
  connected: boolean;
  /** Set while the sockets are still Node's (waiting for their write queues to flush). */
  client: Socket | null;
  target: Socket | null;
  readonly options: RelayOptions;
  /** Set by `admit` for a granted relay. */
  onClose: RelayCloseListener;
  readonly engine: NativeRelayEngine;
  /** Engine-side dial only: who hears of connect outcomes, the target's label (for errors) and the deadline. */
  dialListener: RelayDialListener | null;
  label: string;
  readonly connectTimeoutMs: number;
  /** The listener a `granted` relay waits on. */
  grantedBy: NativeListener | null = null;

  constructor(
    engine: NativeRelayEngine,
    id: number,
    client: Socket | null,
    target: Socket | null,
    options: RelayOptions,
    onClose: RelayCloseListener,
    dialListener: RelayDialListener | null = null,
    label = '',
    connectTimeoutMs = 0,
  ) {
    this.id = id;
    this.startedAt = performance.now();
    this.state = target === null ? 'dialing' : 'flushing';
    this.connected = target !== null;
    this.client = target === null ? null : client;
    this.target = target;
    this.options = options;
    this.onClose = onClose;
    this.engine = engine;
    this.dialListener = dialListener;
    this.label = label;
    this.connectTimeoutMs = connectTimeoutMs;
  }

  close(reason: CloseReason = 'closed'): void {
    this.engine.closeRelay(this, reason);
  }

  redial(address: DialAddress, label: string, reportConnect: boolean): void {
    this.engine.redialRelay(this, address, label, reportConnect);
  }

  giveUp(farewell: Buffer | null): void {
    this.engine.giveUpRelay(this, farewell);
  }

  admit(listener: RelayDialListener, onClose: RelayCloseListener): DialingRelay {
    if (this.state !== 'granted') throw new RelayOptionError('admit: expected a relay granted and just admitted');
    this.state = 'dialing';
    this.dialListener = listener;
    this.onClose = onClose;
    return this;
  }
}

/** A listening socket the addon accepts on (`NativeRelayEngine.listen`). */
class NativeListener implements EngineListener {
  readonly id: number;
  readonly listener: AcceptListener;
  readonly engine: NativeRelayEngine;
  closed = false;
  readonly delivered: Promise<void>;
  /** Settles `delivered`: the `unlistened` record arrived (every accepted record came before it), or shutdown. */
  settle: () => void = noop;

  constructor(engine: NativeRelayEngine, id: number, listener: AcceptListener) {
    this.id = id;
    this.listener = listener;
    this.engine = engine;
    this.delivered = new Promise<void>((resolve) => {
      this.settle = resolve;
    });
  }

  close(): void {
    this.engine.unlisten(this);
  }

  grant(
    address: DialAddress, label: string, connect: DialOptions, reportConnect: boolean, options: RelayOptions,
  ): GrantedRelay | null {
    return this.engine.grantFor(this, address, label, connect, reportConnect, options);
  }

  revokeGrant(): GrantedRelay | null {
    return this.engine.revokeGrantOf(this);
  }
}

class NativeRateLimit implements RateLimit {
  readonly id: number;
  disposed = false;
  readonly #binding: NativeEngineBinding;
  /** The engine's live handles of this kind: a disposed one leaves it (the engine checks ownership against it). */
  readonly #live: Set<NativeRateLimit>;

  constructor(binding: NativeEngineBinding, id: number, live: Set<NativeRateLimit>) {
    this.#binding = binding;
    this.id = id;
    this.#live = live;
    live.add(this);
  }

  set(inBytesPerSec: number, outBytesPerSec: number): void {
    if (this.disposed) throw new RelayOptionError(`rate limit ${this.id} was disposed`);
    this.#binding.setLimit(this.id, checkRate('in', inBytesPerSec), checkRate('out', outBytesPerSec));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.#binding.disposeLimit(this.id);
    this.#live.delete(this);
  }
}

class NativeByteBudget implements ByteBudget {
  readonly id: number;
  disposed = false;
  readonly #binding: NativeEngineBinding;
  /** The engine's live handles of this kind: a disposed one leaves it (the engine checks ownership against it). */
  readonly #live: Set<NativeByteBudget>;

  constructor(binding: NativeEngineBinding, id: number, live: Set<NativeByteBudget>) {
    this.#binding = binding;
    this.id = id;
    this.#live = live;
    live.add(this);
  }

  set(limit: number, countIn: boolean, countOut: boolean): void {
    if (this.disposed) throw new RelayOptionError(`byte budget ${this.id} was disposed`);
    if (typeof limit !== 'number' || Number.isNaN(limit) || limit < 0) {
      throw new RelayOptionError(`byte budget limit: expected bytes >= 0 or Infinity, got ${String(limit)}`);
    }
    this.#binding.setBudget(this.id, limit === Infinity ? -1 : Math.floor(limit), countIn === true, countOut === true);
  }

  take(dir: 0 | 1, bytes: number): number {
    // An addon built before takeBudget existed: no limit here (accounting's sample still cuts).
    if (this.disposed || this.#binding.takeBudget === undefined) return bytes;
    return this.#binding.takeBudget(this.id, dir, bytes);
  }

  charge(dir: 0 | 1, bytes: number): void {
    if (this.disposed || bytes <= 0 || this.#binding.chargeBudget === undefined) return;
    this.#binding.chargeBudget(this.id, dir, bytes);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.#binding.disposeBudget(this.id);
    this.#live.delete(this);
  }
}

/** The addon's id of a relay's rate limit: 0 for none. */
function limitId(options: RelayOptions): number {
  const limit = options.rateLimit as NativeRateLimit | null;
  return limit !== null && !limit.disposed ? limit.id : 0;
}

/** The addon's id of a relay's budget: 0 for none. */
function budgetId(options: RelayOptions): number {
  const budget = options.byteBudget as NativeByteBudget | null | undefined;
  return budget != null && !budget.disposed ? budget.id : 0;
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

/** A validated timeout as the addon takes it: beyond `Limit.maxTimeoutMs` (31 years) is as good as never. */
function addonMs(value: number): number {
  return Math.min(Math.floor(value), Limit.maxTimeoutMs);
}

/** Counters of the JS side, for tests and the status page. */
export interface NativeDeliveryStats {
  /** Stats batches received from the addon's ThreadSafeFunction. */
  readonly deliveries: number;
  /** Records in them (live updates and closes). */
  readonly records: number;
  /** Connections the addon dialed at the accept on a grant (`EngineListener.grant`). */
  readonly admittedOnGrants: number;
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
  readonly #budgets = new Set<NativeByteBudget>();
  #shuttingDown = false;
  #idleWaiters: Array<() => void> = [];
  #deliveries = 0;
  #records = 0;
  #refd = false;
  /** Whether `listen` hands listeners to the addon (by default; `TIDEGATE_NATIVE_ACCEPT=0` turns it off). */
  readonly #accepts: boolean;
  /** Whether listeners take grants: a granted relay starts on its listener's loop, so one loop thread only. */
  readonly #grants: boolean;
  /** Relays granted and not taken by a connection yet (in #relays, but not live). */
  #granted = 0;
  #admittedOnGrants = 0;
  /** The argument tuple of grant(), reused. */
  readonly #grantArgs = newGrantArgs();
  readonly #listeners = new Map<number, NativeListener>();
  #nextListenerId = 1;
  /** Argument tuples reused for every call (filled by slot; their Buffers are released right after). */
  readonly #startArgs = newStartArgs();
  readonly #dialArgs = newDialArgs();
  readonly #redialArgs = newRedialArgs();

  constructor(
    construct: new (
      onStats: (records: Float64Array, labels: string) => void, options: NativeEngineOptions,
    ) => NativeEngineBinding,
    options: NativeEngineOptions = {},
  ) {
    this.#binding = new construct(this.#onStats.bind(this), options);
    this.#accepts = options.accept !== false && typeof this.#binding.listen === 'function';
    this.#grants = this.#accepts && options.grants !== false && typeof this.#binding.grant === 'function'
      && this.#binding.stats().threads === 1;
  }

  get liveCount(): number {
    return this.#relays.size - this.#granted;
  }

  start(client: Socket, target: Socket, options: RelayOptions, onClose: RelayCloseListener): NativeRelay {
    this.#checkStart(client, target, options);
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

  dialAddress(address: HostPort): DialAddress | null {
    return this.#binding.address(address.host, address.port) as DialAddress | null;
  }

  dial(
    client: Socket,
    address: DialAddress,
    label: string,
    connect: DialOptions,
    reportConnect: boolean,
    greeting: Buffer | null,
    options: RelayOptions,
    listener: RelayDialListener,
    onClose: RelayCloseListener,
  ): DialingRelay {
    this.#checkStart(client, null, options);
    if (!Buffer.isBuffer(address)) throw new RelayOptionError('address: expected one made by dialAddress()');
    checkMs('connect timeoutMs', connect.timeoutMs);
    checkMs('keepAliveMs', connect.keepAliveMs);
    if (client.writableLength > 0) {
      // Nothing is written to a client before its target connects; flushing first would need Node's socket kept.
      throw new RelayHandoverError('expected a client with nothing queued for writing before an engine-side dial');
    }
    const id = this.#relays.nextId();
    const relay = new NativeRelay(this, id, client, null, options, onClose, listener, label, connect.timeoutMs);
    this.#relays.set(id, relay);
    this.#updateRef();
    try {
      const c = detachSocket(client);
      const a = this.#dialArgs;
      this.#fillDial(a, id, c.fd, c.pending, options, address, connect, reportConnect, greeting);
      try {
        this.#binding.dial(...a);
      } finally {
        a[DialArg.pendingToTarget] = a[DialArg.address] = a[DialArg.greeting] = null;
      }
    } catch (err) {
      if (!(err instanceof Error)) throw err;
      // The client died before the hand-over (or its fd could not be taken): the relay ends unconnected.
      relay.state = 'closed';
      client.destroy();
      this.#finish(relay, 'client_reset');
      return relay;
    }
    client.on('error', noop);
    client.destroy();
    return relay;
  }

  listen(server: Server, listener: AcceptListener, client: ClientOptions, shared: boolean): EngineListener | null {
    if (!this.#accepts || this.#shuttingDown) return null;
    const fd = listeningFd(server);
    if (fd < 0) return null;
    checkMs('keepAliveMs', client.keepAliveMs);
    const id = this.#nextListenerId++;
    this.#binding.listen(id, fd, client.noDelay === true, addonMs(client.keepAliveMs), shared);
    const handle = new NativeListener(this, id, listener);
    this.#listeners.set(id, handle);
    this.#updateRef();
    return handle;
  }

  /**
   * @internal called by NativeListener.close. Connections the addon accepted before it stopped still go to the
   * listener (its owner admits or refuses them as it would have): the handle leaves with the `unlistened` record.
   */
  unlisten(handle: NativeListener): void {
    if (handle.closed) return;
    handle.closed = true;
    if (!this.#shuttingDown) this.#binding.unlisten(handle.id);
  }

  /** @internal called by NativeListener.grant */
  grantFor(
    handle: NativeListener,
    address: DialAddress,
    label: string,
    connect: DialOptions,
    reportConnect: boolean,
    options: RelayOptions,
  ): NativeRelay | null {
    if (!this.#grants || handle.closed || this.#shuttingDown) return null;
    this.#checkOptions(options);
    if (!Buffer.isBuffer(address)) throw new RelayOptionError('address: expected one made by dialAddress()');
    checkMs('connect timeoutMs', connect.timeoutMs);
    checkMs('keepAliveMs', connect.keepAliveMs);
    const id = this.#relays.nextId();
    const relay = new NativeRelay(this, id, null, null, options, noopClose, null, label, connect.timeoutMs);
    relay.state = 'granted';
    relay.grantedBy = handle;
    const a = this.#grantArgs;
    a[GrantArg.listenerId] = handle.id;
    a[GrantArg.id] = id;
    a[GrantArg.idleTimeoutMs] = addonMs(options.idleTimeoutMs);
    a[GrantArg.halfCloseTimeoutMs] = addonMs(options.halfCloseTimeoutMs);
    a[GrantArg.limitId] = limitId(options);
    a[GrantArg.address] = address as unknown as Buffer;
    a[GrantArg.connectTimeoutMs] = addonMs(connect.timeoutMs);
    a[GrantArg.reportConnect] = reportConnect;
    a[GrantArg.noDelay] = connect.noDelay;
    a[GrantArg.keepAliveMs] = addonMs(connect.keepAliveMs);
    a[GrantArg.budgetId] = budgetId(options);
    a[GrantArg.tuneClient] = connect.tuneClient === true;
    try {
      this.#binding.grant(...a);
    } finally {
      a[GrantArg.address] = null;
    }
    this.#relays.set(id, relay);
    this.#granted++;
    return relay;
  }

  /** @internal called by NativeListener.revokeGrant */
  revokeGrantOf(handle: NativeListener): NativeRelay | null {
    if (!this.#grants || handle.closed || this.#shuttingDown) return null;
    const id = this.#binding.revokeGrant(handle.id);
    const relay = id === 0 ? undefined : this.#relays.get(id);
    if (relay === undefined) return null;
    this.#dropGranted(relay);
    return relay;
  }

  /** A granted relay no connection will take (revoked, or its listener closed): the addon freed it already. */
  #dropGranted(relay: NativeRelay): void {
    relay.state = 'closed';
    relay.grantedBy = null;
    this.#relays.delete(relay.id);
    this.#granted--;
  }

  settleAccepted(fd: number, how: SettleHow): boolean {
    return this.#binding.settleAccepted(fd, SettleHowCode[how]);
  }

  dialAccepted(
    fd: number,
    address: DialAddress,
    label: string,
    connect: DialOptions,
    reportConnect: boolean,
    options: RelayOptions,
    listener: RelayDialListener,
    onClose: RelayCloseListener,
  ): DialingRelay {
    if (this.#shuttingDown) throw new ShuttingDownError('the native relay engine is shut down and accepts no relays');
    this.#checkOptions(options);
    if (!Buffer.isBuffer(address)) throw new RelayOptionError('address: expected one made by dialAddress()');
    checkMs('connect timeoutMs', connect.timeoutMs);
    checkMs('keepAliveMs', connect.keepAliveMs);
    const id = this.#relays.nextId();
    const relay = new NativeRelay(this, id, null, null, options, onClose, listener, label, connect.timeoutMs);
    this.#relays.set(id, relay);
    this.#updateRef();
    const a = this.#dialArgs;
    this.#fillDial(a, id, fd, null, options, address, connect, reportConnect, null);
    a[DialArg.accepted] = true;
    try {
      this.#binding.dial(...a);
    } catch (err) {
      if (!(err instanceof Error)) throw err;
      // Not an unanswered accepted fd (a caller's mistake), or the addon refused the call before taking it: the
      // connection is reset (a no-op when it was not one) and the relay ends unconnected.
      this.#binding.settleAccepted(fd, SettleHowCode.reset);
      relay.state = 'closed';
      this.#finish(relay, 'client_reset');
      return relay;
    } finally {
      a[DialArg.address] = null;
      a[DialArg.accepted] = false;
    }
    return relay;
  }

  #fillDial(
    a: DialArgs,
    id: number,
    fd: number,
    pending: Buffer | null,
    options: RelayOptions,
    address: DialAddress,
    connect: DialOptions,
    reportConnect: boolean,
    greeting: Buffer | null,
  ): void {
    a[DialArg.id] = id;
    a[DialArg.clientFd] = fd;
    a[DialArg.pendingToTarget] = pending;
    a[DialArg.idleTimeoutMs] = addonMs(options.idleTimeoutMs);
    a[DialArg.halfCloseTimeoutMs] = addonMs(options.halfCloseTimeoutMs);
    a[DialArg.limitId] = limitId(options);
    a[DialArg.address] = address as unknown as Buffer;
    a[DialArg.connectTimeoutMs] = addonMs(connect.timeoutMs);
    a[DialArg.reportConnect] = reportConnect;
    a[DialArg.noDelay] = connect.noDelay;
    a[DialArg.keepAliveMs] = addonMs(connect.keepAliveMs);
    a[DialArg.greeting] = greeting;
    a[DialArg.budgetId] = budgetId(options);
    a[DialArg.tuneClient] = connect.tuneClient === true;
  }

  /** @internal called by NativeRelay.giveUp */
  giveUpRelay(relay: NativeRelay, farewell: Buffer | null): void {
    if (relay.state !== 'dialing') return;
    relay.state = 'closing';
    this.#binding.close(relay.id, CloseReasonCode.closed, farewell);
  }

  /** @internal called by NativeRelay.redial */
  redialRelay(relay: NativeRelay, address: DialAddress, label: string, reportConnect: boolean): void {
    // A relay that is closing (or every relay, at shutdown) gets its close record instead.
    if (relay.state !== 'dialing' || this.#shuttingDown) return;
    relay.label = label;
    const a = this.#redialArgs;
    a[RedialArg.id] = relay.id;
    a[RedialArg.address] = address as unknown as Buffer;
    a[RedialArg.connectTimeoutMs] = addonMs(relay.connectTimeoutMs);
    a[RedialArg.reportConnect] = reportConnect;
    try {
      this.#binding.redial(...a);
    } finally {
      a[RedialArg.address] = null;
    }
  }

  createRateLimit(inBytesPerSec: number, outBytesPerSec: number): RateLimit {
    if (this.#shuttingDown) throw new ShuttingDownError('the native relay engine is shut down');
    const id = this.#binding.createLimit(checkRate('in', inBytesPerSec), checkRate('out', outBytesPerSec));
    return new NativeRateLimit(this.#binding, id, this.#limits);
  }

  createByteBudget(): ByteBudget {
    if (this.#shuttingDown) throw new ShuttingDownError('the native relay engine is shut down');
    return new NativeByteBudget(this.#binding, this.#binding.createBudget(), this.#budgets);
  }

  async shutdown(): Promise<void> {
    if (!this.#shuttingDown) {
      this.#shuttingDown = true;
      for (const relay of this.#relays.values()) {
        if (relay.state === 'flushing') this.#finishUnhanded(relay, 'shutdown');
      }
      // The loops close their listeners as they stop; records of connections accepted meanwhile are dropped (the
      // addon resets those connections itself).
      for (const handle of this.#listeners.values()) {
        handle.closed = true;
        handle.settle();
      }
      this.#listeners.clear();
      // Joins the loop threads; every live relay's `shutdown` record is queued to #onStats already.
      this.#binding.shutdown();
      // Grants no connection took were freed with the loops.
      for (const relay of this.#relays.values()) if (relay.state === 'granted') this.#dropGranted(relay);
      this.#limits.clear();
      this.#budgets.clear();
    }
    if (this.#relays.size === 0) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Addon counters (pipes, relays) for tests and status. */
  nativeStats(): NativeEngineStats {
    return this.#binding.stats();
  }

  deliveryStats(): NativeDeliveryStats {
    return { deliveries: this.#deliveries, records: this.#records, admittedOnGrants: this.#admittedOnGrants };
  }

  #checkStart(client: Socket, target: Socket | null, options: RelayOptions): void {
    if (this.#shuttingDown) throw new ShuttingDownError('the native relay engine is shut down and accepts no relays');
    if (isTlsSocket(client) || (target !== null && isTlsSocket(target))) {
      // A programming error, refused before taking the sockets: TLS pairs need the JavaScript engine.
      throw new RelayHandoverError(
        'the native relay moves raw fds and cannot relay a TLS socket; use the JavaScript engine for TLS pairs',
      );
    }
    this.#checkOptions(options);
  }

  #checkOptions(options: RelayOptions): void {
    checkMs('idleTimeoutMs', options.idleTimeoutMs);
    checkMs('halfCloseTimeoutMs', options.halfCloseTimeoutMs);
    const limit = options.rateLimit;
    if (limit !== null && !(limit instanceof NativeRateLimit && !limit.disposed && this.#limits.has(limit))) {
      throw new RelayOptionError('rateLimit: expected a limit created by this engine and not disposed');
    }
    const budget = options.byteBudget ?? null;
    if (budget !== null && !(budget instanceof NativeByteBudget && !budget.disposed && this.#budgets.has(budget))) {
      throw new RelayOptionError('byteBudget: expected a budget created by this engine and not disposed');
    }
  }

  /** @internal called by NativeRelay.close */
  closeRelay(relay: NativeRelay, reason: CloseReason): void {
    if (relay.state === 'closed' || relay.state === 'closing') return;
    if (!Object.hasOwn(CloseReasonCode, reason)) {
      throw new RelayOptionError(`close reason: expected one of ${CLOSE_REASONS.join(', ')}, got ${String(reason)}`);
    }
    if (relay.state === 'flushing') {
      this.#finishUnhanded(relay, reason);
      return;
    }
    relay.state = 'closing';
    this.#binding.close(relay.id, CloseReasonCode[reason], null);
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
      side = 'client';
      const a = this.#startArgs;
      a[StartArg.id] = relay.id;
      a[StartArg.clientFd] = c.fd;
      a[StartArg.targetFd] = t.fd;
      a[StartArg.pendingToTarget] = c.pending;
      a[StartArg.pendingToClient] = t.pending;
      a[StartArg.idleTimeoutMs] = addonMs(relay.options.idleTimeoutMs);
      a[StartArg.halfCloseTimeoutMs] = addonMs(relay.options.halfCloseTimeoutMs);
      a[StartArg.limitId] = limitId(relay.options);
      a[StartArg.budgetId] = budgetId(relay.options);
      try {
        this.#binding.start(...a);
      } finally {
        a[StartArg.pendingToTarget] = a[StartArg.pendingToClient] = null;
      }
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

  #onStats(records: Float64Array, labels: string): void {
    this.#deliveries++;
    this.#records += records.length / RECORD_FIELDS;
    let labelAt = 0;
    for (let i = 0; i + RECORD_FIELDS <= records.length; i += RECORD_FIELDS) {
      const code = records[i + RecordField.code]!;
      if (code >= RecordCode.accepted) {
        // A listener's record: [listenerId, fd, labelLength] or [listenerId, errno, paused].
        const handle = this.#listeners.get(records[i + RecordField.id]!);
        if (code === RecordCode.accepted) {
          const end = labelAt + records[i + RecordField.bytesOut]!;
          this.#accepted(handle, records[i + RecordField.bytesIn]!, labels.slice(labelAt, end));
          labelAt = end;
        } else if (code === RecordCode.admitted) {
          // A take's marker (no label here): the grants' log has it, unless a count read it already.
          if (this.#relays.get(records[i + RecordField.bytesIn]!)?.state === 'granted') this.catchUpAdmitted();
        } else if (code === RecordCode.unlistened) {
          if (handle !== undefined) {
            this.#listeners.delete(handle.id);
            // The addon dropped the grants no connection took when it closed the listener.
            if (this.#granted > 0) {
              for (const relay of this.#relays.values()) if (relay.grantedBy === handle) this.#dropGranted(relay);
            }
            handle.settle();
          }
          this.#updateRef();
        } else if (handle !== undefined && !handle.closed) {
          this.#acceptFailed(handle, records[i + RecordField.bytesIn]!, records[i + RecordField.bytesOut] === 1);
        }
        continue;
      }
      const relay = this.#relays.get(records[i + RecordField.id]!);
      if (relay === undefined) continue;
      if (code >= RecordCode.connectFailed) {
        this.#dialOutcome(relay, code, records[i + RecordField.bytesIn]!);
        continue;
      }
      relay.bytesIn = records[i + RecordField.bytesIn]!;
      relay.bytesOut = records[i + RecordField.bytesOut]!;
      if (code !== RecordCode.live) {
        relay.state = 'closed';
        if (code < RecordCode.unconnected) relay.connected = true;
        this.#finish(relay, CLOSE_REASONS[code % RecordCode.unconnected] ?? 'closed');
      }
    }
  }

  #accepted(handle: NativeListener | undefined, fd: number, label: string): void {
    if (handle === undefined) {
      // Shutting down: the addon reset it already.
      if (!this.#shuttingDown) this.#binding.settleAccepted(fd, SettleHowCode.reset);
      return;
    }
    try {
      handle.listener.accepted(fd, label);
    } catch (err) {
      // The listener answers (or settles) its connections itself; an escaped error must not lose the batch.
      this.#binding.settleAccepted(fd, SettleHowCode.reset);
      process.nextTick(rethrow, err);
    }
  }

  /**
   * Hears now of every grant a connection took (the addon's log of takes, read synchronously): a service's counts
   * then include a granted connection as soon as it exists, not when its `admitted` record arrives. Called at that
   * record and before counts are reported (`RelayEngine.catchUpAdmitted`).
   */
  catchUpAdmitted(): void {
    if (this.#granted === 0) return;
    const taken = this.#binding.takeAdmitted();
    if (taken === undefined) return;
    const [records, labels] = taken;
    let labelAt = 0;
    for (let i = 0; i + RECORD_FIELDS <= records.length; i += RECORD_FIELDS) {
      const end = labelAt + records[i + RecordField.bytesOut]!;
      const handle = this.#listeners.get(records[i + RecordField.id]!);
      this.#admitted(handle, records[i + RecordField.bytesIn]!, labels.slice(labelAt, end));
      labelAt = end;
    }
  }

  /** A connection took grant `id`: the listener takes the relay (dialing already), or it is closed. */
  #admitted(handle: NativeListener | undefined, id: number, label: string): void {
    const relay = this.#relays.get(id);
    if (relay === undefined || relay.state !== 'granted') return;
    relay.grantedBy = null;
    this.#granted--;
    this.#admittedOnGrants++;
    try {
      if (handle !== undefined && handle.listener.admitted !== undefined) handle.listener.admitted(relay, label);
    } catch (err) {
      process.nextTick(rethrow, err);
    }
    if (relay.state === 'granted') {
      // Nobody took it (shutting down, or the listener failed): it ends unconnected, its close record ends it here.
      relay.state = 'closing';
      if (!this.#shuttingDown) this.#binding.close(id, CloseReasonCode.closed, null);
    }
  }

  #acceptFailed(handle: NativeListener, errno: number, paused: boolean): void {
    const name = safeErrorName(errno);
    const err = new Error(`accept ${name}`) as NodeJS.ErrnoException;
    err.code = name;
    err.errno = -errno;
    err.syscall = 'accept';
    try {
      handle.listener.acceptFailed(err, paused);
    } catch (e) {
      process.nextTick(rethrow, e);
    }
  }

  /** A connect of an engine-side dial succeeded (when asked) or failed (errno in the record). */
  #dialOutcome(relay: NativeRelay, code: number, errno: number): void {
    const listener = relay.dialListener;
    if (listener === null || relay.state !== 'dialing') return;
    try {
      if (code === RecordCode.connected) {
        relay.connected = true;
        listener.connected(relay);
      } else {
        listener.connectFailed(relay, connectError(errno, relay.label, relay.connectTimeoutMs));
      }
    } catch (err) {
      process.nextTick(rethrow, err);
    }
  }

  #finish(relay: NativeRelay, reason: CloseReason): void {
    this.#relays.delete(relay.id);
    this.#updateRef();
    const result: RelayResult = {
      connected: relay.connected,
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

  /** Live relays and listeners keep the process alive (as their sockets would); an idle engine never does. */
  #updateRef(): void {
    // A listener keeps the process alive as a listening server would.
    const want = (this.#relays.size > 0 || this.#listeners.size > 0) && !this.#shuttingDown;
    if (want === this.#refd) return;
    this.#refd = want;
    if (want) this.#binding.ref();
    else this.#binding.unref();
  }
}

function noop(): void {}

/** The close listener of a granted relay until `admit` sets the real one. */
function noopClose(): void {}

/** The error of a failed engine-side connect, shaped like Node's own (`code`, `errno`, `syscall`). */
function connectError(errno: number, label: string, timeoutMs: number): Error {
  const name = safeErrorName(errno);
  if (name === 'ETIMEDOUT') return new ConnectTimeoutError(`connect to ${label} timed out after ${timeoutMs} ms`);
  const err = new Error(`connect ${name} ${label}`) as NodeJS.ErrnoException;
  err.code = name;
  err.errno = -errno;
  err.syscall = 'connect';
  return err;
}

function safeErrorName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `E${errno}`;
  }
}

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
