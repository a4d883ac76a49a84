import type { Socket } from 'node:net';
import type { ProxyServiceConfig } from '../config/schema.js';
import type { HealthSnapshot } from '../contracts/health.js';
import { DestinationDeniedError, ProxyAuthError, ProxyHandshakeError, QuotaExceededError } from '../errors.js';
import type { ServiceContext } from '../contracts/service-context.js';
import type { ForwardContext } from './forward-context.js';
import type { NameResolver } from './resolver/name-resolver.js';
import { resolverOf } from './resolver/shared-resolver.js';
import { describeError } from '../guard/describe-error.js';
import { formatHostPort } from '../util/address.js';
import { dial } from './dial.js';
import type { DialAddress, DialingRelay, DialOptions } from '../contracts/relay-engine.js';
import { DestinationGuard } from './proxy/destination-guard.js';
import { DirectDial } from './proxy/direct-dial.js';
import {
  connectFarewell, deniedFarewell, handshakeFarewell, NO_ACCEPTABLE_METHODS, type Protocol,
} from './proxy/farewells.js';
import { parseBasic } from './proxy/auth/basic.js';
import { LoginDirectory, type Credentials } from './proxy/auth/login-directory.js';
import { ProxyAuth } from './proxy/auth/proxy-auth.js';
import { HandshakeReader } from './proxy/handshake-reader.js';
import { httpReply, parseConnect, type ProxyHead } from './proxy/http-connect.js';
import { HttpSession, SessionRoute } from './proxy/http-session.js';
import { PlainHttpProxy, type PlainHttpHost } from './proxy/plain-http.js';
import { routeDestination, type Routed } from './proxy/route-destination.js';
import { ProxyRouter } from './proxy/router.js';
import { RuleSetStore } from './proxy/rules/rule-set-store.js';
import {
  parseGreeting,
  parseRequest,
  parseUserPass,
  SOCKS_REPLY,
  socksReply,
  userPassReply,
  type Destination,
} from './proxy/socks5.js';
import type { UpstreamProxy } from './proxy/upstreams/upstream-proxy.js';
import { tunnelVia, UpstreamSet } from './proxy/upstreams/upstream-set.js';
import { isOutOfFds, type PendingClient, TcpService } from './tcp-service.js';

const MAX_HANDSHAKE_BYTES = 8 * 1024;
const NO_AUTH = Buffer.from([0x05, 0x00]);
const USER_PASS = Buffer.from([0x05, 0x02]);
/** Never aborted: plain requests dial on behalf of a connection that outlives any one of them. */
const NEVER = new AbortController().signal;
const NO_FALLBACKS: readonly DialAddress[] = [];

/**
 * A local SOCKS5 + HTTP proxy on one port (told apart by the first byte). Each destination goes direct, through an
 * upstream proxy or group, or is refused, as the routing rules and GeoIP decide; then the relay engine carries the
 * bytes.
 */
export class ProxyService extends TcpService<ProxyServiceConfig, ProxyClient> {
  private router: ProxyRouter;
  private guard: DestinationGuard;
  /** Client logins (`auth: users`), or null. */
  private auth: ProxyAuth | null = null;
  private readonly plain: PlainHttpProxy;
  private readonly ruleSets: RuleSetStore;
  /** The rule-set read that the last update() started (refresh() waits for it). */
  private ruleSetsLoading: Promise<void> = Promise.resolve();
  private direct = 0;
  private rejected = 0;
  private upstream = 0;
  private denied = 0;
  private authFailed = 0;

  /** Names of direct destinations and of address rules (the runtime's, shared by every service). */
  resolver: NameResolver;
  /** The service's `upstream` and named `upstreams`, with their health. */
  readonly upstreams: UpstreamSet;

  constructor(config: ProxyServiceConfig, context: ForwardContext) {
    super(config, context);
    this.resolver = resolverOf(context);
    this.upstreams = new UpstreamSet(config.name, context.log);
    this.upstreams.configure(config);
    this.router = new ProxyRouter(config, context.geo, new Map(), this.resolver);
    this.ruleSets = new RuleSetStore(config.name, context.log, this.ruleSetsChanged.bind(this));
    this.guard = new DestinationGuard(config, context.ownListeners ?? null);
    this.setAuth(config, context);
    this.plain = new PlainHttpProxy(this.plainHost());
  }

  /** Rule-set files are read before the listener opens; a set that cannot be read fails the start. */
  override async start(): Promise<void> {
    await this.ruleSets.configure(this.config.ruleSets);
    const failures = this.ruleSets.failures();
    if (failures.length > 0) {
      this.ruleSets.close();
      throw failures[0]!;
    }
    this.rebuildRouter();
    await super.start();
    this.upstreams.start();
  }

  override update(next: ProxyServiceConfig, context: ForwardContext): void {
    super.update(next, context);
    this.resolver = resolverOf(context);
    this.upstreams.configure(next);
    this.rebuildRouter();
    this.ruleSetsLoading = this.ruleSets.configure(next.ruleSets);
    this.guard = new DestinationGuard(next, context.ownListeners ?? null);
    this.setAuth(next, context);
    this.plain.update(this.plainHost());
  }

  override async stop(graceMs: number): Promise<void> {
    // Kept-alive plain HTTP clients between requests would hold the drain for the whole grace period.
    this.plain.closeIdle();
    await super.stop(graceMs);
  }

  protected override onStopped(): void {
    this.plain.close();
    this.ruleSets.close();
    this.upstreams.stop();
  }

  /**
   * POST /reload and SIGHUP: re-reads every rule-set file and takes the runtime's GeoIP resolver as it is now (a
   * reload may have replaced it because geo.lists files changed), even when this service's config did not change.
   */
  async refresh(): Promise<boolean> {
    await this.ruleSetsLoading;
    const changed = await this.ruleSets.refresh();
    this.rebuildRouter();
    return changed;
  }

  /** The router for the config, GeoIP resolver and rule sets in force (its name cache carries over). */
  private rebuildRouter(): void {
    this.router = this.router.withSets(this.config, this.context.geo, this.ruleSets.data(), this.resolver);
  }

  private ruleSetsChanged(): void {
    this.rebuildRouter();
  }

  protected override detail(): Record<string, unknown> {
    const plain = this.plain;
    return {
      routing: this.config.routing,
      directCountries: this.config.directCountries,
      routed: { direct: this.direct, upstream: this.upstream },
      denied: this.denied,
      rules: { count: this.config.rules.length, final: this.config.final, rejected: this.rejected },
      ruleSets: this.ruleSets.status(),
      http: {
        forwarded: plain.forwarded, refused: plain.refused, upgraded: plain.upgraded, idleOrigins: plain.idleOrigins(),
      },
      auth: this.auth === null ? 'none' : { ...this.auth.status(), refused: this.authFailed },
      upstreams: this.upstreams.status(),
    };
  }

  /** The health of the named upstream proxies, for /metrics. */
  health(): readonly HealthSnapshot[] {
    return this.upstreams.snapshots();
  }

  caches(): Record<string, unknown> {
    return this.auth === null ? {} : { proxyLogins: this.auth.directory.caches() };
  }

  protected admit(client: Socket, clientLabel: string): ProxyClient {
    return new ProxyClient(client, clientLabel, this.config.auth === 'users' ? null : this.config.user);
  }

  protected override userOf(pending: ProxyClient): string | null {
    return pending.user;
  }

  /** A new login directory per config (the verified-login cache starts over); failure counts are kept. */
  private setAuth(config: ProxyServiceConfig, context: ServiceContext): void {
    if (config.auth !== 'users') {
      this.auth = null;
      return;
    }
    const directory = new LoginDirectory([...context.users.values()]);
    if (this.auth === null) this.auth = new ProxyAuth(directory);
    else this.auth.directory = directory;
  }

  /** What the plain HTTP side uses of this service, bound to the config in force. */
  private plainHost(): PlainHttpHost {
    const service = this;
    const config = this.config;
    return {
      name: this.name,
      log: this.context.log,
      engine: this.context.engine,
      handshakeTimeoutMs: config.handshakeTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      logsIn: config.auth === 'users',
      route: (dest) => service.route(dest),
      open: (routed, dest) => service.open(routed, dest, NEVER),
      openProxy: (proxy) => service.openProxy(proxy),
      login: (authorization, address) => service.login(basicCredentials(authorization), address),
      refusal: (user) => service.context.accounting.check(user)?.reason ?? null,
      routedVia: (via) => {
        if (via === 'direct') service.direct++;
        else service.upstream++;
      },
      denied: () => {
        service.denied++;
      },
    };
  }

  /** The user of these credentials; a ProxyAuthError (after any back-off) when they log nobody in. */
  private async login(credentials: Credentials | ProxyAuthError, clientAddress: string): Promise<string> {
    const auth = this.auth;
    if (auth === null) throw new ProxyAuthError('this proxy takes no logins', false);
    try {
      return await auth.login(credentials, clientAddress);
    } catch (err) {
      this.authFailed++;
      throw err;
    }
  }

  /** @internal routes a plain request's destination with the router and guard in force. */
  route(dest: Destination): Promise<Routed> {
    return routeDestination(this.router, this.guard, dest, this);
  }

  /** @internal a rule refused a destination. */
  ruleRejected(): void {
    this.rejected++;
  }

  protected handle(pending: ProxyClient): void {
    void this.serveGuarded(pending);
  }

  /** Nothing awaits a handshake: a failure nobody foresaw ends that client (and its live count), never the process. */
  private async serveGuarded(pending: ProxyClient): Promise<void> {
    try {
      await this.serve(pending);
    } catch (err) {
      this.context.log.error(
        { service: this.name, client: pending.clientLabel, error: describeError(err) },
        'proxy handshake failed unexpectedly',
      );
      this.finishWithoutRelay(pending, '', 'internal_error');
    }
  }

  private async serve(pending: ProxyClient): Promise<void> {
    const client = pending.client;
    const reader = new HandshakeReader(client, MAX_HANDSHAKE_BYTES, this.config.handshakeTimeoutMs, 'client');
    let protocol: Protocol = 'http';
    let dest: Destination;
    let head: ProxyHead | null = null;
    try {
      protocol = (
        await reader.read((b) => (b.length > 0 ? { value: b[0] === 0x05 ? 'socks5' : 'http', used: 0 } : null))
      ) as Protocol;
      if (protocol === 'socks5') dest = await this.socksHandshake(pending, reader);
      else {
        head = await reader.read(parseConnect);
        if (this.auth !== null) {
          pending.user = await this.login(basicCredentials(head.authorization), client.remoteAddress ?? '');
        }
        dest = head.connect ?? head.plain!;
      }
    } catch (err) {
      reader.release();
      const farewell = handshakeFarewell(protocol, err as Error);
      // Bytes still arriving are read and dropped until the socket closes: unread bytes would turn the close into a
      // reset that can destroy the answer before the client reads it.
      if (farewell !== null) client.on('data', discard).resume();
      this.finishWithoutRelay(pending, '', err instanceof ProxyAuthError ? 'auth_failed' : 'bad_handshake', farewell);
      return;
    }
    if (pending.user !== null && this.auth !== null) {
      const refusal = this.context.accounting.check(pending.user);
      if (refusal !== null) {
        reader.release();
        this.refused++;
        this.context.accounting.refused(pending.user, this.name);
        const message = `user "${pending.user}" is refused: ${refusal.reason}`;
        const farewell = protocol === 'socks5'
          ? socksReply(SOCKS_REPLY.notAllowed)
          : httpReply(429, 'Too Many Requests', message, QuotaExceededError.code);
        client.on('data', discard).resume();
        this.finishWithoutRelay(pending, formatHostPort(dest), refusal.reason, farewell);
        return;
      }
    }
    if (head !== null && head.plain !== null) {
      this.servePlain(pending, reader);
      return;
    }
    const target = formatHostPort(dest);
    const router = this.router;
    const guard = this.guard;
    let routed: Routed;
    let upstream: Socket;
    const abort = new AbortController();
    function clientGone(): void {
      abort.abort(new Error('client closed before the destination connected'));
    }
    client.once('close', clientGone);
    try {
      routed = await routeDestination(router, guard, dest, this);
      const direct = routed.via === 'direct' && !abort.signal.aborted;
      const address = direct ? this.engineAddress(routed.dialHost, dest.port) : null;
      if (address !== null) {
        client.removeListener('close', clientGone);
        this.dialWithEngine(pending, protocol, reader, target, address, this.fallbacks(routed, dest.port));
        return;
      }
      upstream = await this.open(routed, dest, abort.signal);
    } catch (err) {
      client.removeListener('close', clientGone);
      reader.release();
      const e = err as NodeJS.ErrnoException;
      if (err instanceof DestinationDeniedError) {
        this.denied++;
        this.context.log.warn(
          { service: this.name, client: pending.clientLabel, target, err: e.message }, 'proxy destination refused',
        );
        this.finishWithoutRelay(pending, target, 'destination_denied', deniedFarewell(protocol, err));
        return;
      }
      if (isOutOfFds(e)) {
        this.outOfFds(e);
      } else if (!abort.signal.aborted) {
        this.context.log.warn({ service: this.name, target, err: e.message }, 'proxy destination failed');
      }
      this.finishWithoutRelay(
        pending, target, abort.signal.aborted ? 'client_gone' : 'upstream_unavailable', connectFarewell(protocol, e),
      );
      return;
    }
    client.removeListener('close', clientGone);
    if (routed.via === 'direct') this.direct++;
    else this.upstream++;
    client.write(protocol === 'socks5' ? socksReply(SOCKS_REPLY.succeeded) : httpReply(200, 'Connection Established'));
    const early = reader.release();
    if (!handBack(client, early) || !this.isPending(pending) || client.destroyed) {
      upstream.destroy();
      this.finishWithoutRelay(pending, target, 'client_gone');
      return;
    }
    this.relay(pending, upstream, `${target} ${routed.via}`);
  }

  /**
   * A plain (absolute-URI) first request: its bytes go back into the socket, and the client becomes an HTTP session
   * (a Relay to accounting) served by Node's HTTP parser, request after request.
   */
  private servePlain(pending: ProxyClient, reader: HandshakeReader): void {
    const client = pending.client;
    const unread = reader.release();
    if (!handBack(client, unread) || !this.isPending(pending) || client.destroyed) {
      this.finishWithoutRelay(pending, '', 'client_gone');
      return;
    }
    const route = new SessionRoute();
    const user = pending.user;
    const options = this.optionsFor(pending);
    const session = this.startRelay(pending, route, function openSession(onClose) {
      return new HttpSession(client, user, route, options, onClose);
    });
    this.plain.serve(session);
  }

  /** The engine's form of a direct destination, when the engine dials and `host` is an IP literal. */
  private engineAddress(host: string, port: number): DialAddress | null {
    const engine = this.context.engine;
    if (engine.dial === undefined || engine.dialAddress === undefined) return null;
    return engine.dialAddress({ host, port });
  }

  /**
   * A direct destination the engine dials itself: the client goes to the engine with its success reply, which the
   * engine sends once the destination accepts; a failed connect is answered in the client's protocol.
   */
  private dialWithEngine(
    pending: ProxyClient, protocol: Protocol, reader: HandshakeReader, target: string, address: DialAddress,
    fallbacks: readonly DialAddress[],
  ): void {
    const client = pending.client;
    const early = reader.release();
    if (!handBack(client, early) || !this.isPending(pending) || client.destroyed) {
      this.finishWithoutRelay(pending, target, 'client_gone');
      return;
    }
    const greeting = protocol === 'socks5'
      ? socksReply(SOCKS_REPLY.succeeded)
      : httpReply(200, 'Connection Established');
    const dialing = new DirectDial(this, protocol, target, fallbacks);
    // Counted now (the relay is live from here) and taken back if it ends without reaching the destination.
    this.direct++;
    this.relayDialing(pending, dialing, address, target, this.dialOptions(), false, greeting, dialing);
  }

  /**
   * The other checked addresses of a name, in the resolver's order, for the engine to redial one after another when
   * a connect fails (the engine cannot race them as Node's happy eyeballs does).
   */
  private fallbacks(routed: Routed, port: number): readonly DialAddress[] {
    const addresses = routed.addresses;
    if (addresses === null || addresses.length < 2) return NO_FALLBACKS;
    const out: DialAddress[] = [];
    for (let i = 1; i < addresses.length; i++) {
      const address = this.engineAddress(addresses[i]!, port);
      if (address !== null) out.push(address);
    }
    return out;
  }

  /** @internal a direct destination the engine dialed failed: logged, answered in the client's protocol. */
  directFailed(relay: DialingRelay, protocol: Protocol, target: string, err: NodeJS.ErrnoException): void {
    if (isOutOfFds(err)) this.outOfFds(err);
    else this.context.log.warn({ service: this.name, target, err: err.message }, 'proxy destination failed');
    relay.giveUp(connectFarewell(protocol, err));
  }

  /** @internal a relay DirectDial counted ended without reaching its destination. */
  directUnconnected(): void {
    this.direct--;
  }

  private dialOptions(): DialOptions {
    const { config } = this;
    return {
      timeoutMs: config.connectTimeoutMs, noDelay: config.noDelay, keepAliveMs: config.keepAliveMs, tuneClient: false,
    };
  }

  /** Greeting, then (with `auth: users`) RFC 1929 username/password, then the request. */
  private async socksHandshake(pending: ProxyClient, reader: HandshakeReader): Promise<Destination> {
    const client = pending.client;
    const methods = await reader.read(parseGreeting);
    if (this.auth === null) {
      if (!methods.includes(0x00)) {
        client.write(NO_ACCEPTABLE_METHODS);
        throw new ProxyHandshakeError('the client offered no SOCKS5 method tidegate accepts (no-auth)', 'no_method');
      }
      client.write(NO_AUTH);
      return reader.read(parseRequest);
    }
    if (!methods.includes(0x02)) {
      client.write(NO_ACCEPTABLE_METHODS);
      const message = 'the client offered no username/password method (this proxy needs a login)';
      throw new ProxyHandshakeError(message, 'no_method');
    }
    client.write(USER_PASS);
    const credentials = await reader.read(parseUserPass);
    pending.user = await this.login(credentials, client.remoteAddress ?? '');
    client.write(userPassReply(true));
    return reader.read(parseRequest);
  }

  private open(routed: Routed, dest: Destination, abort: AbortSignal): Promise<Socket> {
    const options = this.dialOptions();
    if (routed.via === 'direct') {
      const several = routed.addresses !== null && routed.addresses.length > 1;
      const host = several ? routed.name! : routed.dialHost;
      return dial({ host, port: dest.port }, options, abort, several ? routed.addresses : null);
    }
    return tunnelVia(routed.upstream!, dest, options, this.config.handshakeTimeoutMs, abort);
  }

  /** A plain connection to an upstream HTTP proxy (plain requests through it carry their absolute URI). */
  private openProxy(proxy: UpstreamProxy): Promise<Socket> {
    return proxy.connect(this.dialOptions(), NEVER);
  }
}

function discard(): void {}

/** Proxy-Authorization's Basic credentials, or the ProxyAuthError saying why there are none. */
function basicCredentials(value: string | null | undefined): Credentials | ProxyAuthError {
  try {
    return parseBasic(value);
  } catch (err) {
    if (err instanceof ProxyAuthError) return err;
    throw err;
  }
}

/**
 * Puts bytes sent after the handshake back into the client socket for the relay. False when the client already
 * half-closed during the handshake: its stream has ended and cannot take them back (unshift would throw).
 */
function handBack(client: Socket, early: Buffer): boolean {
  if (client.readableEnded) return false;
  if (early.length > 0) client.unshift(early);
  return true;
}

/** A proxy client from accept until its relay starts (or its handshake fails). */
class ProxyClient implements PendingClient {
  readonly client: Socket;
  readonly clientLabel: string;
  pendingSlot = -1;
  /** Whose traffic it is: the service's user, or (with `auth: users`) the user who logged in. */
  user: string | null;
  constructor(client: Socket, clientLabel: string, user: string | null) {
    this.client = client;
    this.clientLabel = clientLabel;
    this.user = user;
  }
}
