import type { Socket } from 'node:net';
import type { ForwardServiceConfig } from '../config/schema.js';
import type { HealthSnapshot } from '../contracts/health.js';
import { UpstreamUnavailableError } from '../errors.js';
import type {
  CloseReason,
  DialingRelay,
  DialOptions,
  EngineListener,
  GrantedRelay,
  RelayDialListener,
} from '../contracts/relay-engine.js';
import { DialAttempt, type DialListener } from './dial.js';
import type { ForwardContext } from './forward-context.js';
import type { NameResolver } from './resolver/name-resolver.js';
import { resolverOf } from './resolver/shared-resolver.js';
import { type Target, TargetPool } from './target-pool.js';
import { TargetRegistry } from './target-registry.js';
import { isOutOfFds, type LiveCount, type PendingClient, type RelayRoute, TcpService } from './tcp-service.js';
import { SLOW_MS } from '../util/test-hooks.js';

/**
 * Admissions decided ahead on the engine's listener: a burst (the loop accepts up to 64 per wake-up) between two
 * batches of this thread.
 */
const GRANTS_AHEAD = 64;

/** One admission decided ahead: its relay (dialing `order[0]` once a connection takes it) and the failover order. */
class GrantedOrder {
  readonly relay: GrantedRelay;
  readonly order: Target[];

  constructor(relay: GrantedRelay, order: Target[]) {
    this.relay = relay;
    this.order = order;
  }
}

/**
 * L4 TCP forwarding to one of several targets, chosen by strategy, with failover before the client notices.
 *
 * Where the relay engine dials itself (the native engine, and every target an IP literal), the client is handed over
 * at once and the engine connects to the target: Node never builds a socket for it, which takes about a quarter off
 * a short connection's CPU (bench/results/relay.json). Otherwise Node dials and hands both sockets over.
 */
export class ForwardService extends TcpService<ForwardServiceConfig, ForwardConnection> {
  /** Where targets live across reloads: the runtime's, shared with a replacement of this service. */
  private readonly registry: TargetRegistry;
  private targets: TargetPool;
  private dialOptions: DialOptions;
  /** The same for engine-side dials: the engine also sets the client's TCP options (see `engineTunesClient`). */
  private engineDialOptions: DialOptions;
  private engineDials: boolean;
  /** Grants the engine holds or used on the way here, oldest first (the engine takes them in this order). */
  private readonly ahead: GrantedOrder[] = [];
  /** A target's `up` may have flipped: grants decided on the old state go back. */
  private readonly onTargetChange = this.targetsChanged.bind(this);

  constructor(config: ForwardServiceConfig, context: ForwardContext) {
    super(config, context);
    this.registry = context.targets ?? new TargetRegistry();
    this.targets = this.poolOf(config);
    this.dialOptions = dialOptionsOf(config, false);
    this.engineDialOptions = dialOptionsOf(config, true);
    this.engineDials = this.prepareEngineDial();
  }

  override update(next: ForwardServiceConfig, context: ForwardContext): void {
    super.update(next, context);
    // New connections use the new targets; live relays keep theirs. An address listed again (now or after any
    // number of reloads) is the same target: its live count and health carry over. The old pool lets go last, so a
    // target both list is never forgotten in between.
    const previous = this.targets;
    this.targets = this.poolOf(next);
    previous.close();
    this.dialOptions = dialOptionsOf(next, false);
    this.engineDialOptions = dialOptionsOf(next, true);
    this.engineDials = this.prepareEngineDial();
    this.reconsiderAccept();
    this.topUpGrants();
  }

  private poolOf(config: ForwardServiceConfig): TargetPool {
    const pool = new TargetPool(
      config.name, config.targets, config.strategy, config.targetBackoffMs, config.connectTimeoutMs, this.registry,
      config.health,
    );
    for (const target of pool.targets) target.onChange = this.onTargetChange;
    return pool;
  }

  private targetsChanged(): void {
    this.revokeGrants();
    this.topUpGrants();
  }

  /** Whether the engine can dial every target itself; fills in their engine addresses. */
  private prepareEngineDial(): boolean {
    const engine = this.context.engine;
    if (engine.dial === undefined || engine.dialAddress === undefined) return false;
    for (const target of this.targets.targets) {
      target.dialAddress ??= engine.dialAddress(target.address);
      if (target.dialAddress === null) return false;
    }
    return true;
  }

  protected override onStopped(): void {
    for (const target of this.targets.targets) if (target.onChange === this.onTargetChange) target.onChange = null;
    this.targets.close();
  }

  protected override detail(): Record<string, unknown> {
    const pool = this.targets;
    return {
      strategy: this.config.strategy,
      targets: pool.targets.map((t, i) => ({
        address: t.label, live: t.live, up: t.up, failures: t.failures,
        weight: pool.weights[i], backup: pool.backups[i], health: t.health?.snapshot() ?? null,
      })),
    };
  }

  /** The actively checked targets, for /metrics. */
  health(): readonly HealthSnapshot[] {
    const out: HealthSnapshot[] = [];
    for (const t of this.targets.targets) if (t.health !== null) out.push(t.health.snapshot());
    return out;
  }

  /** Whether an admitted client's TCP options are left to the engine: it dials every target itself then. */
  protected override engineTunesClient(): boolean {
    return this.engineDials;
  }

  protected override outgoingProxyProtocol(): 'v1' | 'v2' | null {
    return this.config.proxyProtocol;
  }

  /**
   * The one place that chooses where this service accepts (issue 24: a connection accepted by the engine never
   * becomes a Node socket, which was most of the main thread's cost of a short connection). The engine accepts when
   * it also dials every target (IP literals: admission needs only the client's address, the engine sets the client's
   * TCP options) and no PROXY header is read from clients (HeaderReader needs the socket's bytes) or written to
   * targets (it needs the socket's local address). Everything else keeps Node's accept path, as do node:cluster's
   * workers (see `socketHolder` in src/listen/listen.ts) and a process with `TIDEGATE_NATIVE_ACCEPT=0`.
   */
  protected override acceptsInEngine(): boolean {
    return this.engineDials && this.config.acceptProxyProtocol === null && this.config.proxyProtocol === null;
  }

  /**
   * Admission ahead (issue 24): where a new connection's admission does not depend on who it is — the engine accepts
   * and dials, no user's quota or per-address limit applies, the strategy's pick does not depend on the client's
   * address or on live counts, and every target is up — the next connections' admissions and first targets are
   * decided now, and the engine dials at the accept. Grants hold their place under `maxConnections`; a reload, a
   * target changing state, running out of fds or a stop takes back those not used.
   */
  protected override grantsWanted(): number {
    const config = this.config;
    if (!this.acceptsInEngine() || config.user !== null || config.perIp !== null || SLOW_MS > 0) return 0;
    if (config.strategy === 'least-connections' || config.strategy === 'source-hash') return 0;
    for (const target of this.targets.targets) if (!target.up) return 0;
    return GRANTS_AHEAD;
  }

  protected override grantAhead(listener: EngineListener): boolean {
    if (listener.grant === undefined) return false;
    const order = this.targets.order();
    const first = order[0];
    if (first === undefined || first.dialAddress === null) return false;
    const options = this.relayOptions(this.config.user, '');
    const relay = listener.grant(first.dialAddress, first.label, this.engineDialOptions, !first.up, options);
    if (relay === null) return false;
    this.ahead.push(new GrantedOrder(relay, order));
    return true;
  }

  protected override grantRevoked(relay: GrantedRelay): void {
    const newest = this.ahead.pop();
    if (newest?.relay !== relay) throw new Error(`${this.name}: a grant taken back out of order`);
  }

  protected override admitGranted(relay: GrantedRelay, clientLabel: string, address: string): ForwardConnection {
    const oldest = this.ahead.shift();
    if (oldest?.relay !== relay) throw new Error(`${this.name}: a grant used out of order`);
    return new ForwardConnection(this, null, clientLabel, address, -1, oldest.order);
  }

  protected override handleGranted(conn: ForwardConnection, relay: GrantedRelay): void {
    conn.startGranted(relay);
  }

  /** @internal ForwardConnection's first target, dialed by the engine at the accept on a grant. */
  takeGranted(conn: ForwardConnection, relay: GrantedRelay): DialingRelay {
    return this.relayGranted(conn, conn, relay, conn);
  }

  protected admit(client: Socket, clientLabel: string): ForwardConnection {
    return new ForwardConnection(this, client, clientLabel, client.remoteAddress, -1);
  }

  protected override admitAccepted(fd: number, clientLabel: string, address: string): ForwardConnection {
    return new ForwardConnection(this, null, clientLabel, address, fd);
  }

  protected handle(conn: ForwardConnection): void {
    if (SLOW_MS > 0) setTimeout(startForward, SLOW_MS, conn);
    else conn.next();
  }

  /** @internal ForwardConnection's first target, when the engine dials: the client goes to the engine now. */
  dialWithEngine(conn: ForwardConnection, target: Target): DialingRelay {
    // Admission left the client's TCP options to the engine: `viaEngine` and `engineTunesClient` were read together.
    const options = this.engineDialOptions;
    return this.relayDialing(conn, conn, target.dialAddress!, target.label, options, !target.up, null, conn);
  }

  /** @internal the engine reached a target that was marked down. */
  targetUp(target: Target): void {
    this.targets.markUp(target);
  }

  /** @internal ForwardConnection found a target: relay, or drop it if the client went away meanwhile. */
  connected(conn: ForwardConnection, target: Target, upstream: Socket): void {
    this.targets.markUp(target);
    if (!this.isPending(conn) || conn.client!.destroyed) {
      target.live--;
      upstream.destroy();
      this.finishWithoutRelay(conn, '', 'client_gone');
      return;
    }
    this.relay(conn, upstream, target.label, target);
  }

  /** @internal a target failed: mark it down unless the failure is ours (out of fds). Returns whether to go on. */
  targetFailed(target: Target, err: Error): boolean {
    target.live--;
    if (isOutOfFds(err as NodeJS.ErrnoException)) {
      // Our problem, not the target's: don't mark it down, and stop trying others that would fail alike.
      this.outOfFds(err as NodeJS.ErrnoException);
      return false;
    }
    this.targets.markDown(target, err);
    this.context.log.warn(
      { service: this.name, target: target.label, err: err.message }, 'target failed; trying the next',
    );
    return true;
  }

  /** @internal every target failed, or the client went away while dialing. */
  gaveUp(conn: ForwardConnection, clientGone: boolean, lastError: Error | null, relay: DialingRelay | null): void {
    if (!clientGone) {
      const err = new UpstreamUnavailableError(
        `every target of "${this.name}" failed: ${lastError?.message ?? 'no targets'}`,
      );
      this.context.log.error({ service: this.name, code: err.code }, err.message);
    }
    // An engine-dialed relay records its end when it closes (see ForwardConnection.unconnectedReason).
    if (relay !== null) relay.close('closed');
    else this.finishWithoutRelay(conn, '', clientGone ? 'client_gone' : 'upstream_unavailable');
  }

  /** @internal for ForwardConnection */
  get dialsWithEngine(): boolean {
    return this.engineDials;
  }

  /** @internal for ForwardConnection */
  get targetPool(): TargetPool {
    return this.targets;
  }

  /** @internal for ForwardConnection: resolves targets given as names. */
  get resolver(): NameResolver {
    return resolverOf(this.context as ForwardContext);
  }

  /** @internal for ForwardConnection */
  get currentDialOptions(): DialOptions {
    return this.dialOptions;
  }
}

function dialOptionsOf(config: ForwardServiceConfig, tuneClient: boolean): DialOptions {
  return { timeoutMs: config.connectTimeoutMs, noDelay: config.noDelay, keepAliveMs: config.keepAliveMs, tuneClient };
}

function startForward(conn: ForwardConnection): void {
  conn.next();
}

/**
 * One client on its way to a target: tries targets in strategy order until one connects, then relays; closes the
 * client only when every target fails. Node dials (`DialAttempt`, then both sockets go to the relay), or the engine
 * does (the client goes to the engine first, which reports failed connects here to redial the next target). A plain
 * object with callbacks (no Promise, no AbortController): this runs once per connection.
 */
class ForwardConnection implements DialListener, RelayDialListener, PendingClient, RelayRoute {
  readonly service: ForwardService;
  readonly client: Socket | null;
  /** The engine's fd when the engine accepted the client (no Node socket then), else -1. */
  readonly acceptedFd: number;
  readonly clientLabel: string;
  pendingSlot = -1;
  private readonly order: Target[];
  /** Decided once, with `order`: whether the engine dials (every target has an engine address then). */
  private readonly viaEngine: boolean;
  private index = 0;
  private attempt: DialAttempt | null = null;
  /** The engine-dialed relay, once the client went to the engine. */
  private relay: DialingRelay | null = null;
  /** The target being dialed, or (engine-dialed) the one relayed to; counted in its `live`. */
  private target: Target | null = null;
  private lastError: Error | null = null;
  private gone = false;
  private exhausted = false;
  /** The client's 'close'/'error' listener while Node dials (a destroyed pending client cancels the dial). */
  private readonly onClientGone: (() => void) | null = null;

  constructor(
    service: ForwardService,
    client: Socket | null,
    clientLabel: string,
    address: string | undefined,
    acceptedFd: number,
    order: Target[] | null = null,
  ) {
    this.service = service;
    this.client = client;
    this.acceptedFd = acceptedFd;
    this.clientLabel = clientLabel;
    // A granted connection's order was decided with its grant.
    this.order = order ?? service.targetPool.order(address);
    // An accepted client is admitted only while the engine dials (`acceptsInEngine`).
    this.viaEngine = service.dialsWithEngine;
    if (!this.viaEngine && client !== null) {
      // The engine watches its clients itself; only a client Node dials for needs these.
      const onClientGone = (): void => this.clientGone();
      this.onClientGone = onClientGone;
      client.on('close', onClientGone);
      client.on('error', onClientGone);
    }
  }

  get targetLabel(): string {
    return this.target?.label ?? '';
  }

  get liveCount(): LiveCount | null {
    return this.target;
  }

  /** Like a client Node dialed for in vain: no target in the record. */
  get unconnectedTargetLabel(): string {
    return '';
  }

  unconnectedReason(reason: CloseReason): string {
    if (this.exhausted) return 'upstream_unavailable';
    return reason === 'client_reset' ? 'client_gone' : reason;
  }

  /** A granted connection: the engine is dialing its first target already. */
  startGranted(relay: GrantedRelay): void {
    const target = this.order[this.index++]!;
    target.live++;
    this.target = target;
    this.relay = this.service.takeGranted(this, relay);
  }

  /** Dials the next target in order, or gives up. */
  next(): void {
    if (this.index >= this.order.length) {
      this.finish();
      return;
    }
    const target = this.order[this.index++]!;
    target.live++;
    this.target = target;
    if (this.relay !== null) {
      this.relay.redial(target.dialAddress!, target.label, !target.up);
      return;
    }
    if (this.viaEngine) {
      this.relay = this.service.dialWithEngine(this, target);
      return;
    }
    if (target.named) {
      // A name: dialed at its cached addresses; resolved (once per TTL, shared by concurrent clients) on a miss.
      const resolver = this.service.resolver;
      const known = resolver.cached(target.address.host);
      if (known === undefined) {
        resolver.resolve(target.address.host).then(
          (addresses) => this.resolved(target, addresses),
          (err: unknown) => this.resolved(target, err instanceof Error ? err : new Error(String(err))),
        );
        return;
      }
      this.dial(target, known);
      return;
    }
    this.dial(target, null);
  }

  /** A target's name resolved (or not) while its connection waited. */
  private resolved(target: Target, outcome: readonly string[] | Error): void {
    if (this.gone) {
      target.live--;
      this.target = null;
      this.finish();
      return;
    }
    if (outcome instanceof Error) this.dialFailed(null, outcome);
    else this.dial(target, outcome);
  }

  private dial(target: Target, addresses: readonly string[] | null): void {
    let attempt: DialAttempt;
    try {
      attempt = new DialAttempt(target.address, this.service.currentDialOptions, this, addresses);
    } catch (err) {
      // net.connect() throwing (bad options) fails this target like a refused connect, never the listener.
      this.dialFailed(null, err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.attempt = attempt;
  }

  dialed(_attempt: DialAttempt, socket: Socket): void {
    const target = this.target!;
    this.attempt = null;
    this.target = null;
    this.unlisten();
    this.service.connected(this, target, socket);
  }

  dialFailed(_attempt: DialAttempt | null, err: Error): void {
    const target = this.target!;
    this.attempt = null;
    this.target = null;
    this.lastError = err;
    if (this.service.targetFailed(target, err)) this.next();
    else this.finish();
  }

  connected(_relay: DialingRelay): void {
    this.service.targetUp(this.target!);
  }

  connectFailed(_relay: DialingRelay, err: Error): void {
    this.dialFailed(null, err);
  }

  private clientGone(): void {
    if (this.gone) return;
    this.gone = true;
    const attempt = this.attempt;
    if (attempt === null) return;
    this.attempt = null;
    attempt.cancel();
    this.target!.live--;
    this.target = null;
    this.finish();
  }

  private finish(): void {
    this.exhausted = !this.gone;
    this.unlisten();
    this.service.gaveUp(this, this.gone, this.lastError, this.relay);
  }

  private unlisten(): void {
    const onClientGone = this.onClientGone;
    const client = this.client;
    if (onClientGone === null || client === null) return;
    client.removeListener('close', onClientGone);
    client.removeListener('error', onClientGone);
  }
}
