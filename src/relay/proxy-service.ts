import { lookup } from 'node:dns/promises';
import { isIP, type Socket } from 'node:net';
import type { ProxyServiceConfig } from '../config/schema.js';
import {
  ConnectTimeoutError,
  DestinationDeniedError,
  HttpRefusal,
  ProxyHandshakeError,
  SocksGreetingRefusal,
  SocksRefusal,
  UpstreamProxyError,
  UpstreamUnavailableError,
} from '../errors.js';
import type { ServiceContext } from '../contracts/service-context.js';
import { describeError } from '../guard/describe-error.js';
import { formatHostPort } from '../util/address.js';
import { dial } from './dial.js';
import type {
  CloseReason,
  DialAddress,
  DialingRelay,
  DialOptions,
  RelayDialListener,
} from '../contracts/relay-engine.js';
import { DestinationGuard, type DenyReason } from './proxy/destination-guard.js';
import { HandshakeReader } from './proxy/handshake-reader.js';
import { httpReply, parseConnect } from './proxy/http-connect.js';
import { ProxyRouter, type RouteDecision } from './proxy/router.js';
import { parseGreeting, parseRequest, SOCKS_REPLY, socksReply, type Destination } from './proxy/socks5.js';
import { dialThroughUpstream } from './proxy/upstream.js';
import { isOutOfFds, type LiveCount, type PendingClient, type RelayRoute, TcpService } from './tcp-service.js';

const MAX_HANDSHAKE_BYTES = 8 * 1024;
const NO_ACCEPTABLE_METHODS = Buffer.from([0x05, 0xff]);
const NO_AUTH = Buffer.from([0x05, 0x00]);

type Protocol = 'socks5' | 'http';

/**
 * A local SOCKS5 + HTTP CONNECT proxy on one port (told apart by the first byte). Each destination goes direct or
 * through the upstream proxy as the routing rules and GeoIP decide; then the relay engine carries the bytes.
 */
export class ProxyService extends TcpService<ProxyServiceConfig, ProxyClient> {
  private router: ProxyRouter;
  private guard: DestinationGuard;
  private direct = 0;
  private upstream = 0;
  private denied = 0;

  constructor(config: ProxyServiceConfig, context: ServiceContext) {
    super(config, context);
    this.router = new ProxyRouter(config, context.geo);
    this.guard = new DestinationGuard(config, context.ownListeners ?? null);
  }

  override update(next: ProxyServiceConfig, context: ServiceContext): void {
    super.update(next, context);
    this.router = new ProxyRouter(next, context.geo);
    this.guard = new DestinationGuard(next, context.ownListeners ?? null);
  }

  protected override detail(): Record<string, unknown> {
    return {
      routing: this.config.routing, directCountries: this.config.directCountries,
      routed: { direct: this.direct, upstream: this.upstream }, denied: this.denied,
    };
  }

  protected admit(client: Socket, clientLabel: string): ProxyClient {
    return new ProxyClient(client, clientLabel);
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
    try {
      protocol = (
        await reader.read((b) => (b.length > 0 ? { value: b[0] === 0x05 ? 'socks5' : 'http', used: 0 } : null))
      ) as Protocol;
      dest = protocol === 'socks5' ? await this.socksHandshake(client, reader) : await reader.read(parseConnect);
    } catch (err) {
      reader.release();
      const farewell = handshakeFarewell(protocol, err as Error);
      // Bytes still arriving are read and dropped until the socket closes: unread bytes would turn the close into a
      // reset that can destroy the answer before the client reads it.
      if (farewell !== null) client.on('data', discard).resume();
      this.finishWithoutRelay(pending, '', 'bad_handshake', farewell);
      return;
    }
    const target = formatHostPort(dest);
    const router = this.router;
    const guard = this.guard;
    let route: RouteDecision;
    let upstream: Socket;
    const abort = new AbortController();
    function clientGone(): void {
      abort.abort(new Error('client closed before the destination connected'));
    }
    client.once('close', clientGone);
    try {
      route = await router.decide(dest.host);
      let dialHost: string | null = null;
      if (route.via === 'direct') {
        // The address checked is the address dialled: a name is resolved here, never again by the connect.
        dialHost = route.address ?? dest.host;
        if (isIP(dialHost) === 0) dialHost = await resolveChecked(guard, dialHost, dest.port);
        else checkDestination(guard, dialHost, dest.port);
      } else if (isIP(dest.host) !== 0) {
        // Through the upstream, a literal address is still ours to refuse; a name is the upstream's to resolve.
        checkDestination(guard, dest.host, dest.port);
      }
      const address = dialHost !== null && !abort.signal.aborted ? this.engineAddress(dialHost, dest.port) : null;
      if (address !== null) {
        client.removeListener('close', clientGone);
        this.dialWithEngine(pending, protocol, reader, target, address);
        return;
      }
      upstream = await this.open(route, dialHost ?? dest.host, dest, abort.signal);
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
    if (route.via === 'direct') this.direct++;
    else this.upstream++;
    client.write(protocol === 'socks5' ? socksReply(SOCKS_REPLY.succeeded) : httpReply(200, 'Connection Established'));
    const early = reader.release();
    if (!handBack(client, early) || !this.isPending(pending) || client.destroyed) {
      upstream.destroy();
      this.finishWithoutRelay(pending, target, 'client_gone');
      return;
    }
    this.relay(pending, upstream, `${target} ${route.via}`);
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
    const dialing = new DirectDial(this, protocol, target);
    // Counted now (the relay is live from here) and taken back if it ends without reaching the destination.
    this.direct++;
    this.relayDialing(pending, dialing, address, target, this.dialOptions(), false, greeting, dialing);
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
    return { timeoutMs: config.connectTimeoutMs, noDelay: config.noDelay, keepAliveMs: config.keepAliveMs };
  }

  private async socksHandshake(client: Socket, reader: HandshakeReader): Promise<Destination> {
    const methods = await reader.read(parseGreeting);
    if (!methods.includes(0x00)) {
      client.write(NO_ACCEPTABLE_METHODS);
      throw new ProxyHandshakeError('the client offered no SOCKS5 method tidegate accepts (no-auth)', 'no_method');
    }
    client.write(NO_AUTH);
    return reader.read(parseRequest);
  }

  private open(route: RouteDecision, dialHost: string, dest: Destination, abort: AbortSignal): Promise<Socket> {
    const { config } = this;
    const options = this.dialOptions();
    if (route.via === 'direct') return dial({ host: dialHost, port: dest.port }, options, abort);
    return dialThroughUpstream(
      config.upstream!, dest, { ...options, handshakeTimeoutMs: config.handshakeTimeoutMs }, abort,
    );
  }
}

function discard(): void {}

/**
 * Puts bytes sent after the handshake back into the client socket for the relay. False when the client already
 * half-closed during the handshake: its stream has ended and cannot take them back (unshift would throw).
 */
function handBack(client: Socket, early: Buffer): boolean {
  if (client.readableEnded) return false;
  if (early.length > 0) client.unshift(early);
  return true;
}

/** Refuses `ip:port` with DestinationDeniedError when the guard says no. */
function checkDestination(guard: DestinationGuard, ip: string, port: number, name?: string): void {
  const reason = guard.check(ip, port);
  if (reason !== null) throw deniedError(reason, ip, port, name);
}

/** Resolves a name and checks every address it has (one refused address refuses the name); dials the first. */
async function resolveChecked(guard: DestinationGuard, name: string, port: number): Promise<string> {
  const addresses = await lookup(name, { all: true });
  for (const { address } of addresses) checkDestination(guard, address, port, name);
  if (addresses.length === 0) throw Object.assign(new Error(`${name} has no address`), { code: 'ENOTFOUND' });
  return addresses[0]!.address;
}

function deniedError(reason: DenyReason, ip: string, port: number, name?: string): DestinationDeniedError {
  const target = formatHostPort({ host: ip, port });
  const what = name === undefined ? target : `${name}:${port} (${target})`;
  const entry = ip.includes(':') ? `[${ip}]:${port}` : `${ip}/32:${port}`;
  if (reason === 'own listener') {
    return new DestinationDeniedError(
      `${what} is one of tidegate's own listeners; only an allowDestinations entry with its port opens it,`
        + ` e.g. "${entry}"`,
    );
  }
  return new DestinationDeniedError(`${what} is refused (${reason}) unless allowDestinations lists it`);
}

function deniedFarewell(protocol: Protocol, err: DestinationDeniedError): Buffer {
  return protocol === 'socks5'
    ? socksReply(SOCKS_REPLY.notAllowed)
    : httpReply(403, 'Forbidden', err.message, err.code);
}

const HTTP_REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request', 405: 'Method Not Allowed', 431: 'Request Header Fields Too Large',
  505: 'HTTP Version Not Supported',
};

function handshakeFarewell(protocol: Protocol, err: Error): Buffer | null {
  if (protocol === 'socks5') {
    if (err instanceof SocksRefusal) return socksReply(err.reply);
    return err instanceof SocksGreetingRefusal ? NO_ACCEPTABLE_METHODS : null;
  }
  if (err instanceof HttpRefusal) return httpReply(err.status, HTTP_REASONS[err.status] ?? 'Bad Request', err.message);
  return err instanceof ProxyHandshakeError && err.reason !== 'peer_closed'
    ? httpReply(400, 'Bad Request', err.message)
    : null;
}

function connectFarewell(protocol: Protocol, err: NodeJS.ErrnoException): Buffer {
  const timedOut = err.code === ConnectTimeoutError.code || err.code === 'ETIMEDOUT';
  if (protocol === 'socks5') {
    const code = err.code === 'ECONNREFUSED' ? SOCKS_REPLY.connectionRefused
      : err.code === 'ENETUNREACH' ? SOCKS_REPLY.networkUnreachable
      : timedOut || err.code === 'EHOSTUNREACH' || err.code === 'ENOTFOUND' ? SOCKS_REPLY.hostUnreachable
      : SOCKS_REPLY.generalFailure;
    return socksReply(code);
  }
  if (timedOut) return httpReply(504, 'Gateway Timeout', err.message, ConnectTimeoutError.code);
  if (err instanceof UpstreamProxyError) return httpReply(502, 'Bad Gateway', err.message, err.code);
  return httpReply(
    502, 'Bad Gateway', `cannot reach the destination: ${err.code ?? err.message}`, UpstreamUnavailableError.code,
  );
}

/** A direct destination dialed by the engine: its record's route, and the one failure it can hear of (no failover). */
class DirectDial implements RelayRoute, RelayDialListener {
  readonly targetLabel: string;
  readonly liveCount: LiveCount | null = null;
  readonly unconnectedTargetLabel: string;
  private readonly service: ProxyService;
  private readonly protocol: Protocol;
  private failed = false;

  constructor(service: ProxyService, protocol: Protocol, target: string) {
    this.service = service;
    this.protocol = protocol;
    this.targetLabel = `${target} direct`;
    this.unconnectedTargetLabel = target;
  }

  unconnectedReason(reason: CloseReason): string {
    this.service.directUnconnected();
    if (this.failed) return 'upstream_unavailable';
    return reason === 'client_reset' ? 'client_gone' : reason;
  }

  connected(): void {}

  connectFailed(relay: DialingRelay, err: Error): void {
    this.failed = true;
    this.service.directFailed(relay, this.protocol, this.unconnectedTargetLabel, err as NodeJS.ErrnoException);
  }
}

/** A proxy client from accept until its relay starts (or its handshake fails). */
class ProxyClient implements PendingClient {
  readonly client: Socket;
  readonly clientLabel: string;
  pendingSlot = -1;
  constructor(client: Socket, clientLabel: string) {
    this.client = client;
    this.clientLabel = clientLabel;
  }
}
