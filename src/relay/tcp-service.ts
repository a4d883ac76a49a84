import { type AddressInfo, createServer, type Server, Socket } from 'node:net';
import type { ForwardServiceConfig, ProxyServiceConfig, ServiceConfig } from '../config/schema.js';
import type { RefusalReason } from '../contracts/accounting.js';
import type { RelayMeter } from '../contracts/meter.js';
import { ListenError } from '../errors.js';
import { guardConnection } from '../guard/entry.js';
import type {
  AcceptListener,
  CloseReason,
  DialAddress,
  DialingRelay,
  DialOptions,
  EngineListener,
  GrantedRelay,
  Relay,
  RelayCloseListener,
  RelayDialListener,
  RelayOptions,
  RelayResult,
} from '../contracts/relay-engine.js';
import type { RateLimit } from '../contracts/rate.js';
import type { ServiceContext } from '../contracts/service-context.js';
import type { ServiceState, ServiceStatus } from '../contracts/service-status.js';
import type { Service } from '../contracts/service.js';
import { formatHostPort } from '../util/address.js';
import { SlotList } from '../util/slot-list.js';
import { ListenerRecovery } from '../health/listener-recovery.js';
import { HandlerRecovery } from '../health/service-recovery.js';
import { listenService, relisten, socketHolder } from '../listen/listen.js';
import { ClientScreen, type ScreenListener } from '../origin/client-screen.js';
import { encodeProxyHeader } from '../origin/proxy-protocol/encode.js';
import type { ProxyHeader } from '../origin/proxy-protocol/parse.js';

type TcpServiceConfig = ForwardServiceConfig | ProxyServiceConfig;

/** Something that counts its live relays (a forward target). */
export interface LiveCount {
  live: number;
}

/**
 * An admitted client until its relay starts or it is turned away: the service's own per-connection object (a forward
 * dial, a proxy handshake), which also carries its index in the service's pending list.
 */
export interface PendingClient {
  /** Null for a connection the engine accepted (`acceptedFd`): no Node socket exists for it. */
  readonly client: Socket | null;
  /** The engine's fd of a connection it accepted; -1 (or absent) for a Node socket. */
  readonly acceptedFd?: number;
  readonly clientLabel: string;
  pendingSlot: number;
}

/**
 * What a relay's record says about its target, read when the relay closes: an engine-side dial may fail over between
 * targets after the relay started.
 */
export interface RelayRoute {
  /** The target, for the record. */
  readonly targetLabel: string;
  /** Decremented when the relay closes (a forward target's live count); null for none. */
  readonly liveCount: LiveCount | null;
  /** The record's target when an engine-side dial never reached one. */
  readonly unconnectedTargetLabel: string;
  /**
   * Called once when an engine-side dial ends without reaching a target: the record's reason, given the engine's
   * close reason.
   */
  unconnectedReason(reason: CloseReason): string;
}

/** The route of a relay whose target was connected before it started. */
class ConnectedRoute implements RelayRoute {
  readonly targetLabel: string;
  readonly liveCount: LiveCount | null;

  constructor(targetLabel: string, liveCount: LiveCount | null) {
    this.targetLabel = targetLabel;
    this.liveCount = liveCount;
  }

  get unconnectedTargetLabel(): string {
    return this.targetLabel;
  }

  unconnectedReason(reason: CloseReason): string {
    return reason;
  }
}

/** How long accepting pauses after EMFILE/ENFILE before it resumes. */
const ACCEPT_PAUSE_MS = 500;

/**
 * What forward and proxy services share: the listener, admission (maxConnections, refusal counted), EMFILE
 * back-off, live relay tracking, byte totals, draining on stop, and one record per finished relay.
 */
export abstract class TcpService<C extends TcpServiceConfig, P extends PendingClient>
implements Service<C>, ScreenListener, AcceptListener {
  readonly name: string;
  readonly type: C['type'];
  config: C;
  protected context: ServiceContext;
  protected state: ServiceState = 'starting';
  /** Accepted connections not yet finished: dialing, handshaking or relaying. */
  protected live = 0;
  protected total = 0;
  protected refused = 0;
  protected failed = 0;
  protected acceptErrors = 0;
  private closedBytesIn = 0;
  private closedBytesOut = 0;
  // Lists, not Sets: a Set that churns per connection keeps a chain of retired hash tables (see SlotList).
  private readonly relays = new SlotList<Relay, 'ownerSlot'>('ownerSlot');
  private readonly pending = new SlotList<P, 'pendingSlot'>('pendingSlot');
  /** The listener; a handler restart replaces it (the old one only stops accepting). */
  private server: Server;
  private readonly recovery: ListenerRecovery;
  private readonly handlerRecovery: HandlerRecovery;
  /** `acceptProxyProtocol` and `perIp`: who a client is and whether that address may connect. */
  private readonly screen: ClientScreen;
  /** `Date.now()` until which accepting rests after EMFILE/ENFILE; 0 once a pause is over (see `acceptPaused`). */
  private acceptPausedUntil = 0;
  private drained: (() => void) | null = null;
  /** The address bound at start, still shown while draining (the closed listener no longer knows it). */
  private boundAddress: string | null = null;
  /** The engine's listener when the engine accepts (`acceptsInEngine`); Node's server is closed then. */
  private engineListener: EngineListener | null = null;
  /** What the server had bound when its socket went to the engine (a closed server no longer knows). */
  private boundByEngine: AddressInfo | null = null;
  /** Whether the engine's listener is on a socket other processes accept on too (a fleet slot's). */
  private engineShared = false;
  /**
   * Draining, while a shared socket's engine listener delivers what it accepted before it closed: those are admitted
   * (Node would have accepted them before the stop; the queue they left stays for the replacement worker).
   */
  private admitsDelivered = false;
  /**
   * Admissions granted ahead on the engine's listener whose `admitted` has not arrived: waiting for a connection, or
   * taken by one on the way here. They count as live for `maxConnections`.
   */
  private grantsOut = 0;
  /** The stop's grace is over: relays admitted from now on (on grants taken before the stop) close at once. */
  private graceOver = false;
  /** A reload is being applied: no grants (`holdAhead`). */
  private aheadHeld = false;

  constructor(config: C, context: ServiceContext) {
    this.name = config.name;
    this.type = config.type;
    this.config = config;
    this.context = context;
    this.recovery = new ListenerRecovery(
      () => this.server, this.name, () => this.context.log, () => this.rebindAddress(),
    );
    this.handlerRecovery = new HandlerRecovery(this.name, () => this.context.log, () => this.recreateListener());
    this.screen = new ClientScreen(this.name, () => this.context.log, this, this.addressRate.bind(this));
    this.server = this.createListener();
    this.screen.configure(config.perIp, config.acceptProxyProtocol);
  }

  private createListener(): Server {
    const recovery = this.handlerRecovery;
    const onConnection = guardConnection(
      this.name, this.context.log, this.onConnection.bind(this), recovery.faulted.bind(recovery),
    );
    // No `noDelay` here: admission sets it (or leaves it to the engine, see `engineTunesClient`).
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, onConnection);
    server.on('error', this.onServerError.bind(this));
    // First of the 'listening' listeners (start's and the recoveries' come later): the bound address is kept.
    server.on('listening', this.onListening.bind(this, server));
    return server;
  }

  /**
   * The server is bound (at start, after a re-bind, a handler restart): the engine accepts on it from now on where
   * the service allows it. Node's handle is closed once the engine holds a dup of the socket, so only one of them
   * polls it; `address()` then answers from what the server had bound.
   */
  private onListening(server: Server): void {
    if (server !== this.server || this.state === 'draining' || this.state === 'stopped') return;
    this.attachToEngine();
  }

  private attachToEngine(): void {
    const server = this.server;
    const engine = this.context.engine;
    if (this.engineListener !== null || engine.listen === undefined || !this.acceptsInEngine()) return;
    const bound = server.address();
    if (bound === null || typeof bound !== 'object') return;
    const holder = socketHolder(server);
    // node:cluster's listeners stay with Node (round-robin: no fd; SCHED_NONE: see socketHolder).
    if (holder === 'cluster') return;
    const { noDelay, keepAliveMs } = this.config;
    const shared = holder === 'shared';
    const listener = engine.listen(server, this, { noDelay, keepAliveMs }, shared);
    if (listener === null) return;
    this.engineListener = listener;
    this.engineShared = shared;
    this.boundByEngine = bound;
    server.close();
    this.topUpGrants();
  }

  /** A reload may let the engine accept a listener Node accepted on so far (the reverse goes per connection). */
  protected reconsiderAccept(): void {
    if (this.state === 'running' && !this.recovery.rebinding) this.attachToEngine();
  }

  /** The engine stops accepting for this service and closes its socket (the address is free when this returns). */
  private detachFromEngine(): void {
    const listener = this.engineListener;
    if (listener === null) return;
    // Connections still queued are accepted as the listener closes: they come here undecided, not on grants.
    this.revokeGrants();
    this.engineListener = null;
    listener.close();
  }

  /**
   * How many admissions to decide ahead on the engine's listener (0: none): a granted connection is dialed by the
   * engine at the accept, with no round trip through this thread (see native/README.md, "Admission ahead").
   */
  protected grantsWanted(): number {
    return 0;
  }

  /** Decides one admission ahead on `listener` (`EngineListener.grant`); false when it cannot. */
  protected grantAhead(_listener: EngineListener): boolean {
    return false;
  }

  /** The grant taken back was the newest one `grantAhead` made. */
  protected grantRevoked(_relay: GrantedRelay): void {}

  /** The per-connection object of a connection that took the oldest grant, `relay` (dialing already). */
  protected admitGranted(_relay: GrantedRelay, _clientLabel: string, _address: string): P {
    throw new Error(`${this.type} services do not grant admissions ahead`);
  }

  /** Serves a connection admitted on a grant: it must take `relay` (`relayGranted`) before returning. */
  protected handleGranted(_pending: P, _relay: GrantedRelay): void {}

  holdAhead(hold: boolean): void {
    this.aheadHeld = hold;
    if (hold) this.revokeGrants();
    else this.topUpGrants();
  }

  /** Grants up to `grantsWanted()`, within `maxConnections` (grants count as live). */
  protected topUpGrants(): void {
    const listener = this.engineListener;
    if (listener === null || this.state !== 'running' || this.aheadHeld) return;
    if (this.acceptPaused()) return;
    const wanted = Math.min(this.grantsWanted(), this.config.maxConnections - this.live);
    while (this.grantsOut < wanted && this.grantAhead(listener)) this.grantsOut++;
  }

  /**
   * Takes back every grant no connection used yet (what they decided may have changed), then hears of those used:
   * none is out afterwards, so what follows (a new config, a stop) applies to every connection not admitted yet.
   */
  protected revokeGrants(): void {
    if (this.grantsOut === 0) return;
    const held = this.aheadHeld;
    // Nothing is granted again while the used ones are heard of (`admitted` tops up).
    this.aheadHeld = true;
    let more = true;
    while (more) more = this.revokeOneGrant() && this.grantsOut > 0;
    if (this.grantsOut > 0) this.context.engine.catchUpAdmitted?.();
    this.aheadHeld = held;
  }

  private revokeOneGrant(): boolean {
    const relay = this.engineListener?.revokeGrant?.() ?? null;
    if (relay === null) return false;
    this.grantsOut--;
    this.grantRevoked(relay);
    return true;
  }

  /** Whether an out-of-fds pause is on. Read twice per connection: the clock only while a pause was set. */
  private acceptPaused(): boolean {
    if (this.acceptPausedUntil === 0) return false;
    if (Date.now() < this.acceptPausedUntil) return true;
    this.acceptPausedUntil = 0;
    return false;
  }

  /** Whether a connection would pass `maxConnections`; grants not yet used give way to it. */
  private full(): boolean {
    const max = this.config.maxConnections;
    let more = this.live + this.grantsOut >= max && this.grantsOut > 0;
    while (more) more = this.revokeOneGrant() && this.live + this.grantsOut >= max && this.grantsOut > 0;
    return this.live + this.grantsOut >= max;
  }

  /**
   * A handler fault's restart: a fresh listener on the bound address. The old one stops accepting; the relays and
   * pending clients it accepted are the service's and go on.
   */
  private recreateListener(): Promise<void> {
    if (this.state !== 'running' || this.recovery.rebinding) return Promise.resolve();
    const old = this.server;
    const { host, port } = this.rebindAddress();
    this.server = this.createListener();
    old.close();
    this.detachFromEngine();
    const recovery = this.recovery;
    return relisten(this.server, this.name, host, port, 4096, function relistenFailed(err) {
      recovery.failed(err);
    });
  }

  /** The bucket one client address's relays share under `perIp.rate` (bytes per second each way). */
  private addressRate(bytesPerSec: number): RateLimit {
    return this.context.engine.createRateLimit(bytesPerSec, bytesPerSec);
  }

  /** Where a failed listener binds again: the port it had (the config may say 0), on the configured host. */
  private rebindAddress(): { host: string; port: number } {
    const bound = this.boundAddress;
    const port = bound === null ? this.config.listen.port : Number(bound.slice(bound.lastIndexOf(':') + 1));
    return { host: this.config.listen.host, port };
  }

  /** The PROXY protocol version to send targets ahead of the client's bytes (forward services), or null. */
  protected outgoingProxyProtocol(): 'v1' | 'v2' | null {
    return null;
  }

  /**
   * Whether the relay engine sets an admitted client's TCP_NODELAY and keep-alive (on its own thread), read at
   * admission together with the service's choice of engine-side dials; otherwise admission sets them.
   */
  protected engineTunesClient(): boolean {
    return false;
  }

  /**
   * Whether the relay engine may accept this service's connections itself (`RelayEngine.listen`): only where every
   * decision about a new connection can be made from its address alone. Read when the listener is bound and again
   * per accepted connection; one the service can no longer take from the engine goes into a Node socket instead.
   */
  protected acceptsInEngine(): boolean {
    return false;
  }

  /** The per-connection object for a connection the engine accepted (only when `acceptsInEngine`). */
  protected admitAccepted(_fd: number, _clientLabel: string, _address: string): P {
    throw new Error(`${this.type} services do not take connections the engine accepted`);
  }

  /** The per-connection object for an admitted client; it must not start any work yet. */
  protected abstract admit(client: Socket, clientLabel: string): P;

  /** Serves an admitted client: dial, maybe handshake, then `relay()`; call `finishWithoutRelay` on failure. */
  protected abstract handle(pending: P): void;

  start(): Promise<void> {
    const { host, port } = this.config.listen;
    return new Promise<void>((resolve, reject) => {
      const server = this.server;
      const name = this.name;
      const onError = (err: NodeJS.ErrnoException): void => {
        this.state = 'failed';
        reject(new ListenError(name, formatHostPort(this.config.listen), err));
      };
      server.once('error', onError);
      server.once('listening', () => {
        server.removeListener('error', onError);
        this.boundAddress = this.address();
        this.state = 'running';
        this.topUpGrants();
        resolve();
      });
      listenService(server, name, host, port, 4096);
    });
  }

  canUpdate(next: ServiceConfig): boolean {
    return next.type === this.type && formatHostPort(next.listen) === formatHostPort(this.config.listen);
  }

  update(next: C, context: ServiceContext): void {
    // Grants carry the old config's decisions (targets, options, maxConnections): the subclass grants anew.
    this.revokeGrants();
    this.config = next;
    this.context = context;
    this.screen.configure(next.perIp, next.acceptProxyProtocol);
  }

  /** The bound address (useful when the config asked for port 0). */
  address(): string {
    const a = this.server.address() ?? this.boundByEngine;
    return a && typeof a === 'object'
      ? formatHostPort({ host: a.address, port: a.port })
      : formatHostPort(this.config.listen);
  }

  async stop(graceMs: number): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'draining';
    this.recovery.stop();
    this.handlerRecovery.stop();
    // Stop listening now; close()'s callback would wait for every live connection, which is the grace logic's job.
    this.server.close();
    const listener = this.engineListener;
    this.detachFromEngine();
    if (listener !== null && this.engineShared) {
      this.admitsDelivered = true;
      await listener.delivered;
      this.admitsDelivered = false;
    }
    // Grants still out were taken by connections whose `admitted` is on its way: they are live already.
    if (this.live + this.grantsOut > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.drained = resolve;
        timer = setTimeout(resolve, graceMs);
      });
      clearTimeout(timer);
      this.drained = null;
      this.graceOver = true;
      for (const pending of this.pending.toArray()) this.dropPending(pending);
      for (const relay of this.relays.toArray()) relay.close('shutdown');
      while (this.live + this.grantsOut > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    }
    this.screen.dispose();
    this.onStopped();
    this.state = 'stopped';
  }

  /** Releases service-specific resources once the last connection is gone. */
  protected onStopped(): void {}

  status(): ServiceStatus {
    // Connections that took grants are counted by now, not when their `admitted` record arrives.
    if (this.grantsOut > 0) this.context.engine.catchUpAdmitted?.();
    let bytesIn = this.closedBytesIn;
    let bytesOut = this.closedBytesOut;
    const relays = this.relays;
    for (let i = 0; i < relays.size; i++) {
      bytesIn += relays.at(i).bytesIn;
      bytesOut += relays.at(i).bytesOut;
    }
    return {
      name: this.name,
      type: this.type,
      listen: this.boundAddress ?? formatHostPort(this.config.listen),
      state: this.state,
      connections: { live: this.live, total: this.total, refused: this.refused + this.screen.refused },
      bytes: { in: bytesIn, out: bytesOut },
      detail: {
        failed: this.failed,
        acceptErrors: this.acceptErrors,
        refusedBy: { ...this.screen.refusals },
        listener: this.recovery.status(),
        // Who accepts this service's connections: the relay engine's thread, or Node (see `acceptsInEngine`).
        accepts: this.engineListener !== null ? 'engine' : 'node',
        handler: this.handlerRecovery.status(),
        ...this.detail(),
      },
    };
  }

  protected detail(): Record<string, unknown> {
    return {};
  }

  /**
   * Hands two connected sockets to the relay engine; the record is emitted when the relay closes. `liveCount` (a
   * forward target's) is decremented then.
   */
  protected relay(pending: P, target: Socket, targetLabel: string, liveCount: LiveCount | null = null): Relay {
    const engine = this.context.engine;
    const options = this.optionsFor(pending);
    return this.startRelay(pending, new ConnectedRoute(targetLabel, liveCount), (onClose) =>
      engine.start(pending.client!, target, options, onClose),
    );
  }

  /**
   * Hands the client to an engine that connects to the target itself (`RelayEngine.dial`); `route` tells the record
   * where it went, and `listener` hears of failed connects (to redial the next target or close).
   */
  protected relayDialing(
    pending: P,
    route: RelayRoute,
    address: DialAddress,
    label: string,
    connect: DialOptions,
    reportConnect: boolean,
    greeting: Buffer | null,
    listener: RelayDialListener,
  ): DialingRelay {
    const engine = this.context.engine;
    const client = pending.client;
    const options = this.optionsFor(pending);
    if (client === null) {
      // Accepted by the engine: no socket, no greeting (forward services only).
      const fd = pending.acceptedFd!;
      return this.startRelay(pending, route, (onClose) =>
        engine.dialAccepted!(fd, address, label, connect, reportConnect, options, listener, onClose),
      );
    }
    return this.startRelay(pending, route, (onClose) =>
      engine.dial!(client, address, label, connect, reportConnect, greeting, options, listener, onClose),
    );
  }

  /** Whose traffic a client is: the service's `user` unless the service logs clients in. */
  protected userOf(_pending: P): string | null {
    return this.config.user;
  }

  /** The engine options of `pending`'s relay (a granted relay's were decided with its grant). */
  protected optionsFor(pending: P): RelayOptions {
    return this.relayOptions(this.userOf(pending), pending.clientLabel);
  }

  /** The engine options of a relay charged to `user`, from client `clientLabel`. */
  protected relayOptions(user: string | null, clientLabel: string): RelayOptions {
    const { config } = this;
    const accounting = this.context.accounting;
    let rateLimit = accounting.rateLimit(user, this.name);
    const perIp = this.screen.perIp;
    if (perIp !== null && config.perIp !== null && config.perIp.rate > 0) {
      // The engine gives a relay one bucket: the address's, unless the user's or service's is stricter both ways.
      const addressLimit = perIp.rateLimitOf(hostOfLabel(clientLabel));
      if (addressLimit !== null && !this.sharedRateIsStricter(user, config.perIp.rate)) rateLimit = addressLimit;
    }
    return {
      idleTimeoutMs: config.idleTimeoutMs,
      halfCloseTimeoutMs: config.halfCloseTimeoutMs,
      rateLimit,
      byteBudget: accounting.byteBudget(user),
    };
  }

  /** Whether the bucket `accounting.rateLimit` gives (the user's, else the service's) is at most `bytesPerSec`. */
  private sharedRateIsStricter(user: string | null, bytesPerSec: number): boolean {
    const rate = (user === null ? undefined : this.context.users.get(user)?.rate) ?? this.config.rate;
    return rate != null && rate.inBytesPerSec > 0 && rate.outBytesPerSec > 0
      && rate.inBytesPerSec <= bytesPerSec && rate.outBytesPerSec <= bytesPerSec;
  }

  /**
   * Starts what carries a client's bytes (an engine relay, or a proxy's in-process HTTP session, which is a Relay to
   * accounting); the record is emitted when it closes.
   */
  protected startRelay<R extends Relay>(
    pending: P,
    route: RelayRoute,
    open: (onClose: RelayCloseListener) => R,
  ): R {
    const { clientLabel } = pending;
    const service = this;
    const accounting = this.context.accounting;
    const user = this.userOf(pending);
    let meter: RelayMeter | null = null;
    let ended = false;
    const relay = open(
      function relayClosed(r: Relay, result: RelayResult) {
        ended = true;
        service.relays.delete(r);
        service.closedBytesIn += result.bytesIn;
        service.closedBytesOut += result.bytesOut;
        meter ??= accounting.relayStarted(user, service.name, r);
        // A relay accounting cut (quota) says so in its record.
        const cutReason = accounting.relayEnded(meter, result);
        if (!result.connected) service.failed++;
        service.context.events.relayClosed({
          service: service.name,
          user,
          client: clientLabel,
          target: result.connected ? route.targetLabel : route.unconnectedTargetLabel,
          bytesIn: result.bytesIn,
          bytesOut: result.bytesOut,
          durationMs: Math.round(result.durationMs),
          reason: result.connected ? cutReason ?? result.reason : route.unconnectedReason(result.reason),
        });
        const liveCount = route.liveCount;
        if (liveCount !== null) liveCount.live--;
        service.release(clientLabel);
      },
    );
    // Still pending if the engine threw: the caller then finishes it without a relay.
    this.pending.delete(pending);
    // An engine may end a relay inside start() (a socket that died before the hand-over): it is not live then.
    if (!ended) this.relays.add(relay);
    meter ??= accounting.relayStarted(user, this.name, relay);
    return relay;
  }

  /**
   * Ends a client that never reached a relay (no target, failed handshake); it is counted and recorded. A
   * `farewell` (a protocol error reply) is flushed before the socket closes.
   */
  protected finishWithoutRelay(pending: P, target: string, reason: string, farewell: Buffer | null = null): void {
    if (!this.pending.delete(pending)) return;
    this.failed++;
    const client = pending.client;
    if (client === null) this.context.engine.settleAccepted!(pending.acceptedFd!, 'close');
    else if (farewell !== null && client.writable) {
      // The handshake's reader took its error listener along: a client gone before the answer (EPIPE, ECONNRESET)
      // would otherwise be an uncaught exception. Its connection ends either way.
      client.on('error', ignoreClientError);
      client.end(farewell, () => client.destroy());
    } else client.destroy();
    this.context.events.relayClosed({
      service: this.name,
      user: this.userOf(pending),
      client: pending.clientLabel,
      target,
      bytesIn: 0,
      bytesOut: 0,
      durationMs: 0,
      reason,
    });
    this.release(pending.clientLabel);
  }

  /** Closes a pending client (its socket, or the engine's accepted connection). */
  private dropPending(pending: P): void {
    if (pending.client !== null) pending.client.destroy();
    else this.context.engine.settleAccepted!(pending.acceptedFd!, 'close');
  }

  protected isPending(pending: P): boolean {
    return this.pending.has(pending);
  }

  private release(clientLabel: string): void {
    if (this.screen.perIp !== null) this.screen.release(hostOfLabel(clientLabel));
    this.live--;
    this.settled();
    this.topUpGrants();
  }

  /** A stop waiting for the last connection hears of it. */
  private settled(): void {
    if (this.live + this.grantsOut === 0 && this.drained !== null) this.drained();
  }

  private onConnection(client: Socket): void {
    if (this.state !== 'running' || this.full() || this.acceptPaused()) {
      this.refused++;
      client.resetAndDestroy();
      return;
    }
    this.screen.screen(client);
  }

  /**
   * @internal AcceptListener: the engine accepted `fd` on this service's listener. Admission as for a Node socket
   * (`onConnection`, `admitClient`), from the address alone; every path answers the engine exactly once (a dial, or
   * `settleAccepted`).
   */
  accepted(fd: number, label: string): void {
    try {
      this.admitFromEngine(fd, label);
    } catch (err) {
      // As guardConnection does for a Node socket: this connection is lost, the process and the service are not.
      this.context.engine.settleAccepted!(fd, 'reset');
      this.context.log.error({ service: this.name, err: String(err) }, 'connection handler failed');
      this.handlerRecovery.faulted(err);
    }
  }

  private admitFromEngine(fd: number, label: string): void {
    const engine = this.context.engine;
    const takes = this.state === 'running' || (this.admitsDelivered && this.state === 'draining');
    if (!takes || this.full() || this.acceptPaused()) {
      this.refused++;
      engine.settleAccepted!(fd, 'reset');
      return;
    }
    if (!this.acceptsInEngine()) {
      // A reload made the service need a Node socket (a PROXY header to read or write, a target given by name).
      if (!engine.settleAccepted!(fd, 'adopt')) return;
      const socket = new Socket({ fd, allowHalfOpen: true, readable: true, writable: true });
      socket.pause();
      this.onConnection(socket);
      return;
    }
    const address = hostOfLabel(label);
    // `perIp` as ClientScreen applies it (no PROXY header here: acceptsInEngine), its refusals counted there.
    const screen = this.screen;
    const perIp = screen.perIp;
    if (perIp !== null) {
      const admitted = perIp.admit(address, Date.now());
      if (typeof admitted === 'string') {
        screen.refused++;
        screen.refusals[admitted]++;
        engine.settleAccepted!(fd, 'close');
        return;
      }
    }
    const user = this.config.user;
    if (user !== null) {
      const refusal = this.context.accounting.check(user);
      if (refusal !== null) {
        screen.release(address);
        this.refused++;
        this.context.accounting.refused(user, this.name);
        engine.settleAccepted!(fd, 'close');
        this.context.events.relayClosed({
          service: this.name, user, client: label, target: '', bytesIn: 0, bytesOut: 0, durationMs: 0,
          reason: refusal.reason,
        });
        return;
      }
    }
    this.live++;
    this.total++;
    const pending = this.admitAccepted(fd, label, address);
    this.pending.add(pending);
    this.handle(pending);
    this.topUpGrants();
  }

  /**
   * @internal AcceptListener: a connection took the oldest grant; its relay is dialing the target decided then.
   * Admitted as at the grant (state, `maxConnections` were checked then; the grant held its place).
   */
  admitted(relay: GrantedRelay, label: string): void {
    this.grantsOut--;
    try {
      const pending = this.admitGranted(relay, label, hostOfLabel(label));
      this.live++;
      this.total++;
      this.pending.add(pending);
      this.handleGranted(pending, relay);
    } catch (err) {
      // The engine closes a relay nobody took; the service goes on.
      this.context.log.error({ service: this.name, err: String(err) }, 'connection handler failed');
      this.handlerRecovery.faulted(err);
      this.settled();
    }
    if (this.graceOver) {
      for (const live of this.relays.toArray()) live.close('shutdown');
    }
    this.topUpGrants();
  }

  /** Takes a granted relay for `pending` (as `relayDialing` starts one). */
  protected relayGranted(
    pending: P, route: RelayRoute, relay: GrantedRelay, listener: RelayDialListener,
  ): DialingRelay {
    // Its options were decided with its grant: none are built here.
    return this.startRelay(pending, route, (onClose) => relay.admit(listener, onClose));
  }

  /** @internal AcceptListener: accept4 failed on the engine's listener. */
  acceptFailed(err: NodeJS.ErrnoException, paused: boolean): void {
    // The engine rests an out-of-fds listener by itself (paused); the rest is what Node's 'error' would have meant.
    if (paused) {
      this.acceptErrors++;
      this.outOfFds(err);
      return;
    }
    this.onServerError(err);
  }

  /** @internal ScreenListener: a client whose PROXY header arrives while draining or full is refused. */
  stillTakes(client: Socket): boolean {
    if (this.state === 'running' && this.live < this.config.maxConnections) return true;
    this.refused++;
    client.resetAndDestroy();
    return false;
  }

  /** @internal ScreenListener: admission of a client known by its real address (the socket's, or a PROXY header's). */
  screened(client: Socket, address: string, port: number, header: ProxyHeader | null): void {
    const clientLabel = `${address}:${port}`;
    const user = this.config.user;
    if (user !== null) {
      const refusal = this.context.accounting.check(user);
      if (refusal !== null) {
        this.screen.release(address);
        this.refuseForQuota(client, user, refusal.reason, clientLabel);
        return;
      }
    }
    this.live++;
    this.total++;
    if (!this.engineTunesClient()) {
      if (this.config.noDelay) client.setNoDelay(true);
      if (this.config.keepAliveMs > 0) client.setKeepAlive(true, this.config.keepAliveMs);
    }
    const version = this.outgoingProxyProtocol();
    if (version !== null) {
      // Early bytes: the header waits in the client's read buffer, so either engine relays it to the target first.
      const dstAddress = header?.destinationAddress ?? client.localAddress ?? '';
      const dstPort = header?.destinationAddress != null ? header.destinationPort : client.localPort ?? 0;
      client.unshift(encodeProxyHeader(version, address, port, dstAddress, dstPort));
    }
    const pending = this.admit(client, clientLabel);
    this.pending.add(pending);
    this.handle(pending);
  }

  /** A user past their quota: closed at once, counted, and recorded with the reason. */
  private refuseForQuota(client: Socket, user: string, reason: RefusalReason, clientLabel: string): void {
    this.refused++;
    this.context.accounting.refused(user, this.name);
    client.destroy();
    this.context.events.relayClosed({
      service: this.name, user, client: clientLabel, target: '', bytesIn: 0, bytesOut: 0, durationMs: 0, reason,
    });
  }

  private onServerError(err: NodeJS.ErrnoException): void {
    // Only accept errors reach here once listening; they must never crash the process.
    if (this.recovery.rebinding) return; // a failed re-bind: the recovery retries it
    this.acceptErrors++;
    if (isOutOfFds(err)) {
      this.outOfFds(err);
    } else if (this.state === 'running') {
      // Anything else breaks this listener: bind it again, for this service alone.
      this.context.log.warn({ service: this.name, err: err.message }, 'accept failed');
      this.detachFromEngine();
      this.recovery.failed(err);
    }
  }

  /**
   * The process ran out of file descriptors (seen on accept or on a dial; libuv itself silently drops connections
   * it cannot accept). Refuse new connections for a moment so live relays can finish, and say so once per pause.
   */
  protected outOfFds(err: NodeJS.ErrnoException): void {
    const now = Date.now();
    if (!this.acceptPaused()) {
      this.context.log.error(
        { service: this.name, code: err.code }, 'out of file descriptors: refusing new connections briefly',
      );
    }
    this.acceptPausedUntil = now + ACCEPT_PAUSE_MS;
    this.revokeGrants();
  }
}

/** A refused client's write errors: it left before reading why (its socket closes on the error). */
function ignoreClientError(): void {}

/** The address part of a client label (`address:port`, IPv6 unbracketed). */
function hostOfLabel(label: string): string {
  return label.slice(0, label.lastIndexOf(':'));
}

export function isOutOfFds(err: NodeJS.ErrnoException): boolean {
  return err.code === 'EMFILE' || err.code === 'ENFILE';
}
