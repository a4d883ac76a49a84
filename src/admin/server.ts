import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  AdminBadRequestError,
  AdminBodyTooLargeError,
  AdminError,
  AdminMethodError,
  AdminNotFoundError,
  AdminRequestTimeoutError,
  InternalError,
  ListenError,
  TidegateError,
  UnauthorizedError,
} from '../errors.js';
import { describeError } from '../guard/describe-error.js';
import { guardRequest } from '../guard/entry.js';
import type { Logger } from '../log.js';
import { formatHostPort, type HostPort } from '../util/address.js';

/** What a route answers: a JSON body, or text (Prometheus) with its content type. */
export interface AdminReply {
  readonly status: number;
  readonly body: unknown;
  readonly contentType?: string;
  /** Extra response headers (Allow on a 405). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface AdminRoute {
  readonly method: 'GET' | 'POST';
  /** `/users/:id/usage` style; `:name` segments become params. */
  readonly path: string;
  handle(params: Readonly<Record<string, string>>, request: IncomingMessage): AdminReply | Promise<AdminReply>;
}

interface CompiledRoute {
  readonly route: AdminRoute;
  readonly pattern: RegExp;
  readonly names: readonly string[];
}

/** The admin API reads no bodies: a small one is drained and ignored, a larger one ends its connection. */
const MAX_DRAINED_BODY_BYTES = 64 * 1024;
const MAX_HEADER_BYTES = 16 * 1024;
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const MAX_CONNECTIONS = 256;
const SLASH = 0x2f;

/**
 * The admin HTTP API. It knows nothing of subsystems: the runtime hands it routes. Loopback by default; when a
 * token is set every request needs `Authorization: Bearer <token>`.
 *
 * Dispatch is total: a bad path or escape (400), an unknown path (404), a wrong method (405 + Allow), a request
 * node:http cannot parse (400/431/408, see `answerClientError`) and a route that throws or rejects (500, details
 * only in the log) all get `{ error: { code, message } }`.
 */
export class AdminServer {
  private readonly server: Server;
  private routes: CompiledRoute[] = [];
  private token: Buffer | null;
  private readonly log: Logger;

  constructor(routes: readonly AdminRoute[], token: string | null, log: Logger) {
    this.log = log;
    this.token = token ? Buffer.from(token) : null;
    this.setRoutes(routes);
    this.server = createServer(
      {
        keepAliveTimeout: 5_000,
        headersTimeout: HEADERS_TIMEOUT_MS,
        requestTimeout: REQUEST_TIMEOUT_MS,
        maxHeaderSize: MAX_HEADER_BYTES,
        connectionsCheckingInterval: 1_000,
      },
      guardRequest('admin', log, this.onRequest.bind(this)),
    );
    this.server.maxConnections = MAX_CONNECTIONS;
    this.server.maxHeadersCount = 100;
    this.server.on('clientError', answerClientError);
  }

  setRoutes(routes: readonly AdminRoute[]): void {
    this.routes = routes.map((route) => {
      const names: string[] = [];
      const source = route.path.replace(/:([A-Za-z]+)/g, (_m, name: string) => {
        names.push(name);
        return '([^/]+)';
      });
      return { route, pattern: new RegExp(`^${source}$`), names };
    });
  }

  setToken(token: string | null): void {
    this.token = token ? Buffer.from(token) : null;
  }

  listen(address: HostPort): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(new ListenError('admin', formatHostPort(address), err));
      };
      this.server.once('error', onError);
      this.server.listen(address.port, address.host, () => {
        this.server.removeListener('error', onError);
        resolve();
      });
    });
  }

  address(): string {
    const a = this.server.address();
    return a && typeof a === 'object' ? formatHostPort({ host: a.address, port: a.port }) : '';
  }

  /**
   * Stops accepting. Requests in flight get `graceMs` to finish (a reload that moves the admin API must still send
   * its own reply), then every connection is cut.
   */
  close(graceMs = 0): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
      if (graceMs <= 0) {
        this.server.closeAllConnections();
        return;
      }
      setTimeout(() => this.server.closeAllConnections(), graceMs).unref();
    });
  }

  private authorized(req: IncomingMessage): boolean {
    if (this.token === null) return true;
    const header = req.headers.authorization ?? '';
    if (!header.startsWith('Bearer ')) return false;
    const given = Buffer.from(header.slice(7));
    return given.length === this.token.length && timingSafeEqual(given, this.token);
  }

  /** The request listener: every request gets a JSON reply, whatever it holds (see the module comment). */
  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    drainBody(req, res);
    void this.dispatch(req, res);
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let reply: AdminReply;
    try {
      reply = await this.answer(req);
    } catch (err) {
      reply = this.errorReply(err, req);
    }
    try {
      send(res, reply);
    } catch (err) {
      // A route's body that JSON cannot write (a cycle, a BigInt): the route's fault, not the client's.
      if (!res.headersSent) send(res, this.errorReply(err, req));
      else res.destroy();
    }
  }

  private async answer(req: IncomingMessage): Promise<AdminReply> {
    if (!this.authorized(req)) throw new UnauthorizedError('missing or wrong bearer token');
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > MAX_DRAINED_BODY_BYTES) {
      throw new AdminBodyTooLargeError(
        `the admin API reads no request body; got ${declared} bytes (at most ${MAX_DRAINED_BODY_BYTES} are drained)`,
      );
    }
    const url = req.url ?? '';
    if (url.charCodeAt(0) !== SLASH) {
      throw new AdminBadRequestError(`the request target must be a path starting with "/"; got "${clip(url)}"`);
    }
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    let allowed: string[] | null = null;
    for (const { route, pattern, names } of this.routes) {
      const m = pattern.exec(path);
      if (!m) continue;
      if (route.method !== req.method) {
        (allowed ??= []).push(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      for (let i = 0; i < names.length; i++) params[names[i]!] = decodeSegment(m[i + 1]!, path);
      return await route.handle(params, req);
    }
    if (allowed !== null) {
      const allow = [...new Set(allowed)].join(', ');
      throw new AdminMethodError(`${clip(req.method ?? '')} is not allowed on ${clip(path)}; allowed: ${allow}`, allow);
    }
    throw new AdminNotFoundError(`no admin endpoint ${clip(path)}`);
  }

  /** Known errors answer with their code and message; anything else is logged and answered 500 without details. */
  private errorReply(err: unknown, req: IncomingMessage): AdminReply {
    if (err instanceof AdminError) {
      const reply: AdminReply = { status: err.status, body: errorBody(err.code, err.message) };
      if (err instanceof AdminMethodError) return { ...reply, headers: { allow: err.allow } };
      if (err instanceof AdminBodyTooLargeError) return { ...reply, headers: { connection: 'close' } };
      return reply;
    }
    if (err instanceof UnauthorizedError) return { status: 401, body: errorBody(err.code, err.message) };
    if (err instanceof TidegateError) return { status: 400, body: errorBody(err.code, err.message) };
    const internal = new InternalError('internal error');
    this.log.error(
      { error: describeError(err), method: req.method, path: clip((req.url ?? '').split('?')[0]!) },
      'admin route failed',
    );
    return { status: 500, body: errorBody(internal.code, internal.message) };
  }
}

export function errorBody(code: string, message: string, extra?: Record<string, unknown>): unknown {
  return { error: { code, message, ...extra } };
}

function send(res: ServerResponse, reply: AdminReply): void {
  const text = typeof reply.body === 'string' && reply.contentType ? reply.body : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    ...reply.headers,
    'content-type': reply.contentType ?? 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** Drains an unwanted body; one larger than the admin API accepts to drain ends the connection. */
function drainBody(req: IncomingMessage, res: ServerResponse): void {
  let drained = 0;
  req.on('data', function drainAdminBody(chunk: Buffer) {
    drained += chunk.length;
    if (drained > MAX_DRAINED_BODY_BYTES) {
      res.shouldKeepAlive = false;
      req.socket.destroy();
    }
  });
}

/** A `%` escape that does not decode (`%E0%A4%A`) is the client's mistake: 400, never a URIError. */
function decodeSegment(segment: string, path: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new AdminBadRequestError(`malformed percent-escape in the path ${clip(path)}`);
  }
}

/** Echoes of client input in messages stay short. */
function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * node:http could not parse the request (a bad method, request line or header; headers over the limit) or it timed
 * out: the same JSON error shape as every other reply, then the connection closes.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || (inFlight && inFlight.headersSent)) {
    socket.destroy();
    return;
  }
  const error: AdminError =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new AdminBadRequestError(`request headers exceed ${MAX_HEADER_BYTES} bytes`, 431)
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new AdminRequestTimeoutError(
            `the request did not arrive within ${HEADERS_TIMEOUT_MS / 1000}s (headers) / ` +
              `${REQUEST_TIMEOUT_MS / 1000}s (whole request)`,
          )
        : new AdminBadRequestError(`malformed HTTP request (${err.code ?? 'parse error'})`);
  const body = JSON.stringify(errorBody(error.code, error.message));
  const reason =
    error.status === 431 ? 'Request Header Fields Too Large' : error.status === 408 ? 'Request Timeout' : 'Bad Request';
  socket.end(
    `HTTP/1.1 ${error.status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}
