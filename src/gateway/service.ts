import { createServer, type Server } from 'node:http';
import { type AddressInfo, Server as NetServer, type Socket } from 'node:net';
import { DEFAULTS } from '../config/defaults.js';
import type { GatewayServiceConfig, ServiceConfig } from '../config/schema.js';
import {
  AddressRateLimitedError, type GatewayError, InjectedFaultError, ListenError, MethodNotAllowedError,
  RouteNotFoundError,
} from '../errors.js';
import { guardRequest } from '../guard/entry.js';
import { ListenerRecovery } from '../health/listener-recovery.js';
import { HandlerRecovery } from '../health/service-recovery.js';
import { ClientScreen, type ScreenListener } from '../origin/client-screen.js';
import type { ProxyHeader } from '../origin/proxy-protocol/parse.js';
import { FAULT_PATH } from '../util/test-hooks.js';
import { listenService, relisten } from '../listen/listen.js';
import type { HealthSnapshot } from '../contracts/health.js';
import type { ServiceState, ServiceStatus } from '../contracts/service-status.js';
import type { Service } from '../contracts/service.js';
import { formatHostPort } from '../util/address.js';
import { AccountSource } from './upstream/account-source.js';
import { ModelsRefresher } from './upstream/models-refresher.js';
import { BodyBudget } from './body-budget.js';
import type { Channel } from './upstream/channel.js';
import type { GatewayContext as ServiceContext } from './context.js';
import { BodyCodec } from './codec.js';
import { GatewayCore } from './core.js';
import { findEndpoint, MODELS, type Endpoint, type Family } from './routing/endpoints.js';
import { errorBody } from './response/error-body.js';
import { Exchange } from './exchange.js';
import { refusedRow } from './usage-row.js';
import { GatewayRequest, GatewayResponse } from './http-types.js';
import { KeepAliveSweeper, type ClientConnection } from './timers/keep-alive.js';
import type { AddressEntry } from '../origin/per-ip.js';
import { isLingering } from './linger.js';
import { listModels } from './routing/models.js';

/** The gateway's client connection, kept on its socket (set once, when it is accepted). */
const CLIENT = Symbol('tidegate.gatewayClient');
type ClientSocket = Socket & { [CLIENT]?: ClientConnection };
type GatewayServer = Server<typeof GatewayRequest, typeof GatewayResponse>;
/** node:http's own 'connection' listener (one function for every server; `this` is the server). */
type HttpConnectionListener = (this: GatewayServer, socket: Socket) => void;

/**
 * `type: gateway`: an HTTP API router for LLM APIs on node:http. OpenAI-compatible `/v1/chat/completions`,
 * `/v1/completions`, `/v1/embeddings`, `/v1/models` and Anthropic `/v1/messages`, routed to channels (undici clients)
 * with balancing, session affinity, circuit breakers, failover before the first byte, streaming with backpressure,
 * dialect conversion and a usage row per request.
 */
export class GatewayService implements Service<GatewayServiceConfig>, ScreenListener {
  readonly name: string;
  readonly type = 'gateway' as const;
  config: GatewayServiceConfig;
  private readonly context: ServiceContext;
  private readonly core: GatewayCore;
  /** The listener; a handler restart replaces it (the old one serves its connections until they end). */
  private server: GatewayServer;
  /** Listeners replaced by a handler restart, until their last connection is gone. */
  private readonly retired = new Set<GatewayServer>();
  /** node:http's connection listener, taken off the server: called once a connection's client is known. */
  private httpConnection: HttpConnectionListener | null = null;
  private readonly recovery: ListenerRecovery;
  private readonly handlerRecovery: HandlerRecovery;
  /** `acceptProxyProtocol` and `perIp`: who a client is and whether that address may connect. */
  private readonly screen: ClientScreen;
  private state: ServiceState = 'starting';
  private boundAddress: string;
  private liveConnections = 0;
  private totalConnections = 0;
  private refusedConnections = 0;
  private readonly onSocketClose: (this: ClientSocket) => void;
  /** Closes idle client connections (node:http's per-socket keep-alive timers are off). */
  private readonly keepAlive: KeepAliveSweeper;
  /** Credential-directory feeds of the channels that use one. */
  private readonly accountSources = new Map<Channel, AccountSource>();
  /** Shared by every gateway service of the runtime (a service built without one gets its own). */
  private readonly bodyBudget: BodyBudget;
  /** Reads the upstream model lists of the channels with `modelsRefresh`. */
  private readonly modelsRefresher: ModelsRefresher;

  constructor(config: GatewayServiceConfig, context: ServiceContext) {
    this.name = config.name;
    this.config = config;
    this.context = context;
    this.boundAddress = formatHostPort(config.listen);
    this.core = new GatewayCore(
      config, context.users, new BodyCodec(context.pool ?? null), context.usageLog ?? null, context.events, context.log,
      context.accounting,
    );
    this.keepAlive = new KeepAliveSweeper(config.keepAliveTimeoutMs);
    this.modelsRefresher = new ModelsRefresher(config.name, context.log);
    this.bodyBudget = context.bodyBudget ?? new BodyBudget(DEFAULTS.gateway);
    const service = this;
    this.onSocketClose = function gatewaySocketClosed(this: ClientSocket) {
      service.liveConnections--;
      const client = this[CLIENT];
      if (client === undefined) return;
      service.keepAlive.remove(client);
      if (client.perIp !== null) service.screen.release(client.perIp.ip);
    };
    this.recovery = new ListenerRecovery(
      () => this.server, this.name, () => this.context.log, () => this.rebindAddress(),
    );
    this.handlerRecovery = new HandlerRecovery(this.name, () => this.context.log, () => this.recreateListener());
    this.screen = new ClientScreen(this.name, () => this.context.log, this, null);
    this.server = this.createListener();
    this.screen.configure(config.perIp, config.acceptProxyProtocol);
  }

  private createListener(): GatewayServer {
    const log = this.context.log;
    const recovery = this.handlerRecovery;
    // keepAliveTimeout 0: no socket timer per connection; the sweeper closes idle ones (see keep-alive.ts).
    const onRequest = guardRequest<GatewayRequest, GatewayResponse>(
      this.name, log, this.handle.bind(this), recovery.faulted.bind(recovery),
    );
    // node:http's requestTimeout would answer a slow body with its own plain-text 408 (checked every 30 s): the
    // gateway's bodyTimeout answers it in JSON first, and Node's stays as a backstop set well behind it.
    const server: GatewayServer = createServer({
      IncomingMessage: GatewayRequest, ServerResponse: GatewayResponse, keepAliveTimeout: 0,
      headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: nodeRequestTimeout(this.bodyBudget.timeoutMs),
    }, onRequest);
    server.maxConnections = this.config.maxConnections;
    // node:http parses what its own 'connection' listener gets: it is taken off, and called by gatewayConnection
    // (at once, or after a PROXY header). One listener instead of two: the plain path costs nothing more.
    const http = server.listeners('connection')[0] as HttpConnectionListener;
    server.removeListener('connection', http);
    this.httpConnection = http;
    const service = this;
    server.on('connection', function gatewayConnection(this: GatewayServer, socket: ClientSocket) {
      if (!service.screen.active) service.serve(this, socket, null, null);
      else service.screen.screen(socket);
    });
    server.on('drop', function gatewayConnectionDropped() {
      service.refusedConnections++;
    });
    server.on('error', this.onServerError.bind(this));
    return server;
  }

  /** A connection whose client is known: counted, swept when idle, and handed to node:http. */
  private serve(server: GatewayServer, socket: ClientSocket, origin: string | null, entry: AddressEntry | null): void {
    this.liveConnections++;
    this.totalConnections++;
    this.core.accounting.connectionOpened(this.core.serviceName);
    const client = this.keepAlive.add(socket);
    client.origin = origin;
    client.perIp = entry;
    socket[CLIENT] = client;
    socket.once('close', this.onSocketClose);
    this.httpConnection!.call(server, socket);
  }

  /** @internal ScreenListener: a client whose PROXY header arrives while draining is closed. */
  stillTakes(client: Socket): boolean {
    if (this.state === 'running') return true;
    client.destroy();
    return false;
  }

  /** @internal ScreenListener: the client is known and its address admitted. */
  screened(
    client: Socket, _address: string, _port: number, header: ProxyHeader | null, entry: AddressEntry | null,
  ): void {
    const server = (client as Socket & { server: GatewayServer }).server;
    this.serve(server, client, header?.sourceAddress ?? null, entry);
    // The header reader paused the socket to put back what followed the header; node:http reads on from there.
    if (header !== null && !client.destroyed) client.resume();
  }

  /** Where a failed or restarted listener binds again: the port it had (the config may say 0). */
  private rebindAddress(): { host: string; port: number } {
    const bound = this.boundAddress;
    const port = this.state === 'starting'
      ? this.config.listen.port
      : Number(bound.slice(bound.lastIndexOf(':') + 1));
    return { host: this.config.listen.host, port };
  }

  private onServerError(err: NodeJS.ErrnoException): void {
    // Only accept errors reach here once listening; they must never crash the process.
    if (this.recovery.rebinding || this.state !== 'running') return;
    this.context.log.warn({ service: this.name, err: err.message }, 'accept failed');
    this.recovery.failed(err);
  }

  /**
   * A handler fault's restart: a fresh listener on the bound address. The old one only stops accepting (net's
   * close, not node:http's, which would also close idle keep-alive connections); its connections go on.
   */
  private recreateListener(): Promise<void> {
    if (this.state !== 'running' || this.recovery.rebinding) return Promise.resolve();
    const old = this.server;
    const { host, port } = this.rebindAddress();
    this.server = this.createListener();
    this.retired.add(old);
    const retired = this.retired;
    NetServer.prototype.close.call(old, function retiredServerDrained() {
      retired.delete(old);
    });
    const recovery = this.recovery;
    return relisten(this.server, this.name, host, port, 511, function relistenFailed(err) {
      recovery.failed(err);
    });
  }

  async start(): Promise<void> {
    await this.startAccountSources();
    await this.listen();
    this.modelsRefresher.sync(this.core.channels.values());
  }

  /** Loads the accounts of every `credentialsDir` channel not yet fed; a bad directory is reported, not fatal. */
  private async startAccountSources(): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const channel of this.core.channels.values()) {
      if (!channel.usesAccounts || this.accountSources.has(channel)) continue;
      const pool = this.context.pool ?? null;
      if (pool === null) {
        channel.accountProblems = [
          { file: channel.config.credentialsDir!, reason: 'no worker pool to scan the credentials directory' },
        ];
        continue;
      }
      const source = new AccountSource(channel, channel.config.credentialsDir!, pool, this.context.log);
      this.accountSources.set(channel, source);
      const log = this.context.log;
      pending.push(source.start().catch(function credentialsDirFailed(err: Error) {
        channel.accountProblems = [{ file: channel.config.credentialsDir!, reason: err.message }];
        log.error(
          { channel: channel.name, err: err.message },
          'gateway channel cannot read its credentials directory; it has no accounts',
        );
      }));
    }
    await Promise.all(pending);
  }

  private listen(): Promise<void> {
    const { server, config } = this;
    const service = this;
    return new Promise<void>(function listen(resolve, reject) {
      function onError(err: NodeJS.ErrnoException): void {
        service.state = 'failed';
        reject(new ListenError(config.name, formatHostPort(config.listen), err));
      }
      server.once('error', onError);
      server.once('listening', function listening() {
        server.removeListener('error', onError);
        const a = server.address() as AddressInfo;
        service.boundAddress = formatHostPort({ host: a.address, port: a.port });
        service.state = 'running';
        if (service.core.keys === null) {
          service.context.log.warn(
            { service: config.name, listen: service.boundAddress },
            'gateway has no users with keys: it is open to every client',
          );
        }
        resolve();
      });
      listenService(server, config.name, config.listen.host, config.listen.port, 511);
    });
  }

  caches(): Record<string, unknown> {
    const credentials: Record<string, unknown> = {};
    for (const [channel, source] of this.accountSources) credentials[channel.name] = source.stats();
    return { affinity: this.core.affinity.stats(), credentials };
  }

  canUpdate(next: ServiceConfig): boolean {
    return next.type === 'gateway' && next.listen.host === this.config.listen.host
      && next.listen.port === this.config.listen.port;
  }

  update(next: GatewayServiceConfig, context: ServiceContext): void {
    const retired = this.core.update(next, context.users);
    this.config = next;
    this.screen.configure(next.perIp, next.acceptProxyProtocol);
    this.keepAlive.retune(next.keepAliveTimeoutMs);
    this.server.requestTimeout = nodeRequestTimeout(this.bodyBudget.timeoutMs);
    this.server.maxConnections = next.maxConnections;
    // Requests already on a retired channel finish on it; its pool closes once they are done.
    for (const c of retired) {
      this.accountSources.get(c)?.close();
      this.accountSources.delete(c);
      c.close().catch(() => undefined);
    }
    this.startAccountSources().catch(() => undefined);
    this.modelsRefresher.sync(this.core.channels.values());
    if (this.core.keys === null) {
      this.context.log.warn({ service: next.name }, 'gateway has no users with keys: it is open to every client');
    }
  }

  /** The request listener (bound once per service). */
  private handle(req: GatewayRequest, res: GatewayResponse): void {
    if (isLingering(req.socket)) {
      // Pipelined behind an answer that closes the connection: never served (its answer could not be sent).
      req.resume();
      return;
    }
    const client = (req.socket as ClientSocket)[CLIENT];
    res.on('close', onResponseClose);
    const url = req.url ?? '/';
    if (client !== undefined) {
      client.requestStarted();
      res.client = client;
      if (client.origin !== null) req.origin = client.origin;
      const entry = client.perIp;
      if (entry !== null && !this.screen.perIp!.takeRequest(entry, Date.now())) {
        this.refuseAddressRate(req, res, url);
        return;
      }
    }
    const q = url.indexOf('?');
    const endpoint = findEndpoint(q === -1 ? url : url.slice(0, q));
    if (endpoint === null) {
      // Test only (unset in production): a request for this path makes the handler throw.
      if (FAULT_PATH !== null && url === FAULT_PATH) throw new InjectedFaultError(`injected fault on ${url}`);
      answerError(res, familyOf(url), new RouteNotFoundError(`no route for ${req.method} ${url.slice(0, 200)}`));
      return;
    }
    if (req.method !== endpoint.method) {
      res.setHeader('allow', endpoint.method);
      answerError(
        res, endpoint.family,
        new MethodNotAllowedError(`${endpoint.path} accepts ${endpoint.method}, got ${req.method}`),
      );
      return;
    }
    const core = this.core;
    const exchange = new Exchange(core, req, res, endpoint, this.bodyBudget);
    core.requests++;
    core.live.add(exchange);
    res.exchange = exchange;
    if (!exchange.authenticate()) return;
    if (endpoint.dialect === null) {
      // GET /v1/models (Anthropic's shape when the client sent anthropic-version) or GET /v1beta/models.
      const anthropic = endpoint === MODELS && req.headers['anthropic-version'] !== undefined;
      exchange.answerLocal(listModels(this.config, core.channels, anthropic ? 'anthropic' : endpoint.family));
      return;
    }
    // The body goes straight to the exchange (GatewayRequest.push), charged to the body budget.
    exchange.readBody(Number(req.headers['content-length']));
  }

  /** `perIp.rate`: 429 before routing, counted, and in the request log like the gateway's other refusals. */
  private refuseAddressRate(req: GatewayRequest, res: GatewayResponse, url: string): void {
    const startedAt = performance.now();
    this.screen.refusals.per_ip_rate++;
    const err = new AddressRateLimitedError(this.config.perIp!.rate);
    const bytes = answerError(res, familyOf(url), err);
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    // An unknown path is logged as asked (cut short): the refusal came before routing could answer 404.
    const endpoint = findEndpoint(path)?.path ?? path.slice(0, 200);
    const client = req.origin ?? req.socket?.remoteAddress ?? null;
    this.core.record(refusedRow(this.name, endpoint, err, bytes, client, startedAt));
  }

  async stop(graceMs: number): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'draining';
    this.recovery.stop();
    this.handlerRecovery.stop();
    const server = this.server;
    // net's close, not http's: http's also closes every connection it deems idle, a just-accepted one included.
    const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
    const core = this.core;
    const deadline = Date.now() + graceMs;
    // A connection accepted just before the close may still have its first request in flight: it gets a moment.
    const firstRequestBy = Math.min(deadline, Date.now() + FIRST_REQUEST_GRACE_MS);
    let waiting = this.keepAlive.closeIdle();
    while ((core.live.size > 0 || (waiting > 0 && Date.now() < firstRequestBy)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - Date.now()))));
      waiting = this.keepAlive.closeIdle();
    }
    for (const exchange of core.live.toArray()) exchange.res.destroy();
    core.watchdog.stop();
    this.keepAlive.stop();
    this.modelsRefresher.stop();
    server.closeAllConnections();
    for (const old of this.retired) old.closeAllConnections();
    this.retired.clear();
    await closed;
    for (const source of this.accountSources.values()) source.close();
    this.accountSources.clear();
    await Promise.all([...core.channels.values()].map((c) => c.destroy().catch(() => undefined)));
    this.state = 'stopped';
  }

  limitStatus(user: string): unknown {
    return this.core.policies.status(user, Date.now());
  }

  status(): ServiceStatus {
    const core = this.core;
    const now = Date.now();
    return {
      name: this.name,
      type: 'gateway',
      listen: this.boundAddress,
      state: this.state,
      connections: {
        live: this.liveConnections,
        total: this.totalConnections,
        refused: this.refusedConnections + this.screen.refused,
      },
      bytes: { in: core.bytesIn, out: core.bytesOut },
      detail: {
        open: core.keys === null,
        requests: { total: core.requests, failed: core.failed, live: core.live.size },
        channels: [...core.channels.values()].map((c) => c.snapshot(now)),
        affinity: core.affinity.snapshot(),
        usageLog: core.usageLog?.stats() ?? null,
        bodyBudget: this.bodyBudget.snapshot(),
        refusedBy: { ...this.screen.refusals },
        listener: this.recovery.status(),
        handler: this.handlerRecovery.status(),
      },
    };
  }

  /** The actively checked channels, for /metrics. */
  health(): readonly HealthSnapshot[] {
    const out: HealthSnapshot[] = [];
    for (const c of this.core.channels.values()) if (c.health !== null) out.push(c.health.snapshot());
    return out;
  }
}

/** node:http's limit for a request's headers (its default). */
const HEADERS_TIMEOUT_MS = 60_000;
/** On a drain, how long a connection accepted just before the close may take to send its first request. */
const FIRST_REQUEST_GRACE_MS = 1_000;

/** node:http's whole-request limit: behind headers plus bodyTimeout plus its 30 s check interval. */
function nodeRequestTimeout(bodyTimeoutMs: number): number {
  return HEADERS_TIMEOUT_MS + bodyTimeoutMs + 30_000;
}

/** The error dialect of a request no endpoint took yet, from its path. */
function familyOf(url: string): Family {
  return url.startsWith('/v1/messages') ? 'anthropic' : url.startsWith('/v1beta/') ? 'gemini' : 'openai';
}

/** Answers `err` in the family's dialect; returns the body's size in bytes. */
function answerError(res: GatewayResponse, family: Family, err: GatewayError): number {
  const body = errorBody(family, err);
  const bytes = Buffer.byteLength(body);
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', bytes);
  if (err.retryAfterSeconds !== null) res.setHeader('retry-after', String(err.retryAfterSeconds));
  res.writeHead(err.status);
  res.end(body);
  return bytes;
}

function onResponseClose(this: GatewayResponse): void {
  const client = this.client;
  if (client !== null) {
    this.client = null;
    client.responseClosed();
  }
  const exchange = this.exchange;
  if (exchange !== null && !exchange.finished) exchange.onClientClose();
}

export type { Endpoint };
