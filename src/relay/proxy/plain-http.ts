import {
  createServer,
  request as httpRequest,
  type AgentOptions,
  type RequestOptions,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  ConnectTimeoutError, DestinationDeniedError, ProxyAuthError, QuotaExceededError, UpstreamProxyError,
} from '../../errors.js';
import type { Logger } from '../../log.js';
import { formatHostPort } from '../../util/address.js';
import type { RelayEngine } from '../../contracts/relay-engine.js';
import type { AbsoluteTarget } from './absolute-uri.js';
import { BudgetedBody } from './budgeted-body.js';
import { HandshakeReader } from './handshake-reader.js';
import { endToEndFields } from './hop-by-hop.js';
import { httpReply, MAX_HEADER_BLOCK } from './http-connect.js';
import type { HttpSession } from './http-session.js';
import { ORIGIN_KEY, OriginAgent, type OriginDial } from './origin-agent.js';
import { errorCode, errorMessage, errorStatus, REALM } from './plain-errors.js';
import { connectTarget, parseResponseHead, pick, requestTarget, type ResponseHead } from './plain-request.js';
import type { Routed } from './route-destination.js';
import type { Destination } from './socks5.js';
import type { UpstreamProxy } from './upstreams/upstream-proxy.js';

/** What the plain HTTP side needs from its proxy service (routing, the guard, dialling, logins, counters). */
export interface PlainHttpHost {
  readonly name: string;
  readonly log: Logger;
  readonly engine: RelayEngine;
  readonly handshakeTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** Routes and checks a destination (throws DestinationDeniedError, or a resolver error). */
  route(dest: Destination): Promise<Routed>;
  /** A raw connection to `dest` along `routed` (direct, or a tunnel through its upstream proxies in turn). */
  open(routed: Routed, dest: Destination): Promise<Socket>;
  /** A raw connection to an upstream HTTP proxy itself (plain requests through it carry their absolute URI). */
  openProxy(proxy: UpstreamProxy): Promise<Socket>;
  /** Whether clients log in (`auth: users`). */
  readonly logsIn: boolean;
  /** The user these Proxy-Authorization credentials log in as; throws ProxyAuthError (after any back-off). */
  login(authorization: string | undefined, clientAddress: string): Promise<string>;
  /** null when `user` may go on, else the refusal's reason (quota). */
  refusal(user: string | null): string | null;
  routedVia(via: 'direct' | 'upstream'): void;
  denied(): void;
}

/** Sessions by client socket: a plain request's handler finds its connection's session here. */
const sessions = new WeakMap<Duplex, HttpSession>();
const UPSTREAM_HEAD_LIMIT = 16 * 1024;
/**
 * Plain HTTP proxying for one proxy service: absolute-URI requests of any method, forwarded to their origin over
 * keep-alive connections pooled per origin, with hop-by-hop fields removed (RFC 9110 §7.6.1) and bodies streamed
 * both ways (Node's parser frames them; nothing is buffered). A connection arrives here after the service's strict
 * reader checked its first request; Node's parser (llhttp, 8 KiB of header fields) reads it and the rest. A
 * WebSocket upgrade, and a CONNECT on a kept-alive connection, become engine relays once the origin agreed.
 */
export class PlainHttpProxy {
  private host: PlainHttpHost;
  private readonly server: Server;
  private readonly agent: OriginAgent;
  /** Requests forwarded, and refused (bad request, login, quota, destination). */
  forwarded = 0;
  refused = 0;
  upgraded = 0;

  constructor(host: PlainHttpHost) {
    this.host = host;
    this.server = createServer({
      maxHeaderSize: MAX_HEADER_BLOCK,
      requireHostHeader: false,
      connectionsCheckingInterval: 1_000,
    });
    this.server.keepAliveTimeout = Math.min(host.idleTimeoutMs || 60_000, 60_000);
    this.server.headersTimeout = host.handshakeTimeoutMs;
    this.server.requestTimeout = 0;
    this.server.timeout = host.idleTimeoutMs;
    this.server.on('request', this.onRequest.bind(this));
    this.server.on('upgrade', this.onUpgrade.bind(this));
    this.server.on('connect', this.onConnect.bind(this));
    this.server.on('clientError', this.onClientError.bind(this));
    // The server never listens (connections are handed to it), so start Node's header/request timeout checks here.
    this.server.emit('listening');
    const options: AgentOptions = {
      keepAlive: true, keepAliveMsecs: 1_000, maxFreeSockets: 64, scheduling: 'lifo', timeout: 30_000,
    };
    this.agent = new OriginAgent(options);
  }

  update(host: PlainHttpHost): void {
    this.host = host;
    this.server.timeout = host.idleTimeoutMs;
    this.server.headersTimeout = host.handshakeTimeoutMs;
  }

  /** Takes a client whose first request (still unread in the socket) passed the strict checks. */
  serve(session: HttpSession): void {
    const socket = session.client;
    sessions.set(socket, session);
    this.server.emit('connection', socket);
    socket.resume();
  }

  /** Idle origin connections: how many, for /status. */
  idleOrigins(): number {
    let n = 0;
    for (const list of Object.values(this.agent.freeSockets)) n += list?.length ?? 0;
    return n;
  }

  /** Client connections between requests are closed (a stopping service need not wait for them). */
  closeIdle(): void {
    this.server.closeIdleConnections();
  }

  close(): void {
    this.agent.destroy();
    this.server.close();
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    this.refused++;
    if (!socket.writable || (socket as Socket & { _httpMessage?: unknown })._httpMessage) {
      socket.destroy();
      return;
    }
    const code = err.code ?? '';
    const reply = code === 'HPE_HEADER_OVERFLOW'
      ? httpReply(431, 'Request Header Fields Too Large', `request header block larger than ${MAX_HEADER_BLOCK} bytes`)
      : code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? httpReply(408, 'Request Timeout', 'the request did not arrive in time')
        : httpReply(400, 'Bad Request', `malformed HTTP request (${code || 'parse error'})`);
    socket.end(reply);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    void this.forward(req, res).catch(function forwardFailed(err: Error) {
      res.destroy(err);
    });
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const session = sessions.get(req.socket);
    if (session === undefined) {
      req.socket.destroy();
      return;
    }
    const host = this.host;
    let target: AbsoluteTarget | null = null;
    let routed: Routed;
    try {
      await this.admit(req, session);
      target = requestTarget(req);
      routed = await host.route(target);
    } catch (err) {
      this.answerError(res, err as Error, target);
      return;
    }
    if (res.destroyed) return;
    this.routed(session, target, routed);
    this.forwarded++;
    const picked = pick(routed);
    const proxy = picked.proxy;
    const fields = endToEndFields(req.rawHeaders, false);
    fields.push('Host', target.authority);
    let dial: OriginDial;
    if (proxy !== null) {
      const credentials = proxy.credentials();
      if (credentials !== null) fields.push('Proxy-Authorization', credentials);
      dial = { key: `proxy|${proxy.name}|${proxy.url.host}`, open: () => host.openProxy(proxy) };
    } else {
      const dest = { host: routed.dialHost, port: target.port };
      const via = routed.upstream === null ? routed.via : `upstream:${routed.upstream.name}`;
      const pinned = picked.routed;
      dial = { key: `${via}|${formatHostPort(dest)}`, open: () => host.open(pinned, target) };
    }
    const options: RequestOptions & Record<symbol, OriginDial> = {
      agent: this.agent,
      method: req.method,
      path: proxy !== null ? `http://${target.authority}${target.path}` : target.path,
      // A flat name/value list, as rawHeaders: names keep their case and repeats their order.
      headers: fields as unknown as Record<string, string>,
      setHost: false,
      [ORIGIN_KEY]: dial,
    };
    const out = httpRequest(options);
    const plain = this;
    out.on('response', function originAnswered(answer: IncomingMessage) {
      if (res.destroyed) {
        answer.destroy();
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEndFields(answer.rawHeaders, false));
      if (session.budget === null) answer.pipe(res);
      else new BudgetedBody(answer, res, session);
      answer.on('error', function originBroke() {
        res.destroy();
      });
    });
    out.on('error', function originFailed(err: NodeJS.ErrnoException) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (!(err instanceof UpstreamProxyError) && err.code !== ConnectTimeoutError.code) {
        const { log, name } = plain.host;
        log.warn({ service: name, target: target.authority, err: err.message }, 'proxy origin failed');
      }
      plain.answerError(res, err, target);
    });
    res.on('close', function clientLeft() {
      if (!res.writableFinished) out.destroy();
    });
    if (session.budget !== null) session.watchUpload(req);
    req.pipe(out);
  }

  /** Login and quota for one request; a connection stays with the user who opened it. */
  private async admit(req: IncomingMessage, session: HttpSession): Promise<void> {
    const host = this.host;
    const user = session.user;
    if (session.firstLoginChecked) session.firstLoginChecked = false;
    else if (host.logsIn) {
      const found = await host.login(req.headers['proxy-authorization'], req.socket.remoteAddress ?? '');
      if (found !== user) {
        throw new ProxyAuthError('this connection belongs to another proxy user; open a new one', false);
      }
    }
    const refusal = host.refusal(user);
    if (refusal !== null) throw new QuotaExceededError(`user "${user}" is refused: ${refusal}`, refusal);
  }

  private answerError(res: ServerResponse, err: Error, target: AbsoluteTarget | null): void {
    this.refused++;
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const [status, reason, extra] = errorStatus(err);
    if (err instanceof DestinationDeniedError) {
      this.host.denied();
      const { log, name } = this.host;
      log.warn({ service: name, target: target?.authority, err: err.message }, 'proxy destination refused');
    }
    const body = JSON.stringify({ error: { code: errorCode(err), message: errorMessage(err) } });
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      ...extra,
    };
    // A refused login or a bad request ends the connection: its framing or its owner can no longer be trusted.
    if (status === 400 || status === 407) headers.connection = 'close';
    res.writeHead(status, reason, headers);
    res.end(body);
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node's parser let go of the socket: hold what the client sends next until the engine takes it.
    socket.pause();
    void this.upgrade(req, socket as Socket, head).catch(function upgradeFailed() {
      socket.destroy();
    });
  }

  /** A WebSocket (or other) upgrade: the handshake goes to the origin; after its 101 the engine relays both sockets. */
  private async upgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const host = this.host;
    let origin: Socket;
    let session: HttpSession;
    try {
      const opened = await this.openFor(req, socket, requestTarget);
      if (opened === null) return;
      session = opened.session;
      const { proxy, routed } = pick(opened.routed);
      const target = opened.dest;
      origin = proxy !== null ? await host.openProxy(proxy) : await host.open(routed, target);
      this.routed(session, target, routed);
      const fields = endToEndFields(req.rawHeaders, true);
      fields.push('Host', target.authority);
      const credentials = proxy === null ? null : proxy.credentials();
      if (credentials !== null) fields.push('Proxy-Authorization', credentials);
      const path = proxy !== null ? `http://${target.authority}${target.path}` : target.path;
      let text = `${req.method} ${path} HTTP/1.1\r\n`;
      for (let i = 0; i < fields.length; i += 2) text += `${fields[i]}: ${fields[i + 1]}\r\n`;
      origin.write(`${text}\r\n`, 'latin1');
      if (head.length > 0) origin.write(head);
    } catch (err) {
      this.refuseRaw(socket, err as Error);
      return;
    }
    const reader = new HandshakeReader(origin, UPSTREAM_HEAD_LIMIT, host.handshakeTimeoutMs, 'origin');
    let answer: ResponseHead;
    try {
      answer = await reader.read(parseResponseHead);
    } catch (err) {
      reader.release();
      origin.destroy();
      const message = `the origin did not answer the upgrade: ${(err as Error).message}`;
      this.refuseRaw(socket, new UpstreamProxyError(message));
      return;
    }
    const rest = reader.release();
    if (socket.destroyed) {
      origin.destroy();
      return;
    }
    socket.write(answer.head);
    if (answer.status !== 101) {
      // Refused upgrade: pass the answer on, then end; the connection cannot be reused for another origin.
      if (rest.length > 0) socket.write(rest);
      origin.pipe(socket);
      origin.on('error', function originBroke() {
        socket.destroy();
      });
      return;
    }
    if (rest.length > 0) origin.unshift(rest);
    this.upgraded++;
    session.startTunnel(host.engine, origin);
  }

  private onConnect(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.pause();
    void this.connect(req, socket as Socket, head).catch(function connectFailed() {
      socket.destroy();
    });
  }

  /** CONNECT after plain requests on the same connection: tunnelled like a first CONNECT. */
  private async connect(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const host = this.host;
    let origin: Socket;
    let session: HttpSession;
    try {
      const opened = await this.openFor(req, socket, connectTarget);
      if (opened === null) return;
      session = opened.session;
      origin = await host.open(opened.routed, opened.dest);
      this.routed(session, opened.dest, opened.routed);
    } catch (err) {
      this.refuseRaw(socket, err as Error);
      return;
    }
    if (socket.destroyed) {
      origin.destroy();
      return;
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) socket.unshift(head);
    session.startTunnel(host.engine, origin);
  }

  /**
   * What an upgrade and a later CONNECT share before they dial: the connection's session (null, and the socket
   * destroyed, when it has none), the login and quota, the destination and its route. Throws what refuses it.
   */
  private async openFor<D extends Destination>(
    req: IncomingMessage, socket: Socket, destOf: (req: IncomingMessage) => D,
  ): Promise<{ session: HttpSession; dest: D; routed: Routed } | null> {
    const session = sessions.get(socket);
    if (session === undefined) {
      socket.destroy();
      return null;
    }
    await this.admit(req, session);
    const dest = destOf(req);
    return { session, dest, routed: await this.host.route(dest) };
  }

  /** Labels the session's record with where its current request went, and counts the route. */
  private routed(session: HttpSession, dest: Destination, routed: Routed): void {
    session.route.targetLabel = `${formatHostPort(dest)} ${routed.via}`;
    this.host.routedVia(routed.via);
  }

  /** An error answer written on a socket Node's server let go of (upgrade, CONNECT), then the end. */
  private refuseRaw(socket: Socket, err: Error): void {
    this.refused++;
    if (err instanceof DestinationDeniedError) this.host.denied();
    const [status, reason, extra] = errorStatus(err);
    let reply = httpReply(status, reason, errorMessage(err), errorCode(err));
    if (extra['proxy-authenticate'] !== undefined) {
      const text = reply.toString('utf8');
      reply = Buffer.from(text.replace('\r\n', `\r\nproxy-authenticate: ${REALM}\r\n`), 'utf8');
    }
    if (socket.writable) socket.end(reply);
    else socket.destroy();
  }
}

