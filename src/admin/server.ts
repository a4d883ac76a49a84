import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AdminRole, AdminTokenConfig } from '../config/types.js';
import {
  AdminBadRequestError,
  AdminBodyError,
  AdminBodyTooLargeError,
  AdminForbiddenError,
  AdminInvalidError,
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
import { DEFAULT_UI_DIR, isUiPath, serveUiFile, uiFiles } from './static-files.js';

/** What a route answers: a JSON body, or text (Prometheus) with its content type. */
export interface AdminReply {
  readonly status: number;
  readonly body: unknown;
  readonly contentType?: string;
  /** Extra response headers (Allow on a 405, ETag). */
  readonly headers?: Readonly<Record<string, string>>;
  /** A streamed reply (server-sent events): takes the response over instead of `body`. */
  readonly stream?: (res: ServerResponse) => void;
}

export type AdminMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A JSON Schema (2020-12, as OpenAPI 3.1 uses it). */
export type JsonSchema = Readonly<Record<string, unknown>>;

/** What a route documents about itself; the OpenAPI document is generated from these, never kept by hand. */
export interface AdminRouteDoc {
  readonly summary: string;
  /** Query parameters and their schemas. */
  readonly query?: Readonly<Record<string, JsonSchema>>;
  /** The JSON request body's schema (routes with `body: true`). */
  readonly requestBody?: JsonSchema;
  /** The success status and its body's schema (`null`: no body, e.g. 204). */
  readonly response?: { readonly status: number; readonly schema: JsonSchema | null; readonly contentType?: string };
  /** Error statuses the route answers besides 400/401/404/405/500. */
  readonly errors?: readonly number[];
}

export interface AdminRoute {
  readonly method: AdminMethod;
  /** `/users/:id/usage` style; `:name` segments become params. */
  readonly path: string;
  /** Reads a JSON object body (at most MAX_BODY_BYTES); other routes drain and ignore one. */
  readonly body?: boolean;
  readonly doc?: AdminRouteDoc;
  handle(
    params: Readonly<Record<string, string>>, request: IncomingMessage, body: Record<string, unknown> | null,
  ): AdminReply | Promise<AdminReply>;
}

/** A bearer token and what it may do; `GET` needs `read`, every other method `write`. */
export type AdminCredential = AdminTokenConfig;

/** `admin.token` (role write) and `admin.tokens`, as the server checks them. */
export function adminCredentials(token: string | null, tokens: readonly AdminTokenConfig[] = []): AdminCredential[] {
  return token ? [{ token, role: 'write' }, ...tokens] : [...tokens];
}

/** The role each request in flight was let in with (a route may tell its caller, e.g. `GET /session`). */
const requestRoles = new WeakMap<IncomingMessage, AdminRole>();

/** The role the request's token has; `write` when the API is open (no tokens). */
export function requestRole(req: IncomingMessage): AdminRole {
  return requestRoles.get(req) ?? 'write';
}

interface CompiledRoute {
  readonly route: AdminRoute;
  readonly pattern: RegExp;
  readonly names: readonly string[];
}

/**
 * Bodies: a route that reads one takes at most this; elsewhere a small one is drained, a larger one ends its
 * connection.
 */
const MAX_DRAINED_BODY_BYTES = 64 * 1024;
export const MAX_BODY_BYTES = MAX_DRAINED_BODY_BYTES;
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
  private credentials: { readonly token: Buffer; readonly role: AdminRole }[] = [];
  private readonly log: Logger;
  /** The built dashboard served at /ui/ (null: none). */
  private readonly uiDir: string | null;

  /**
   * `token`: one write token (or null for none), or a list of tokens with roles. No token at all: open. `uiDir`: the
   * built dashboard's folder.
   */
  constructor(
    routes: readonly AdminRoute[], token: string | null | readonly AdminCredential[], log: Logger,
    uiDir: string | null = DEFAULT_UI_DIR,
  ) {
    this.log = log;
    this.uiDir = uiDir;
    this.setToken(token);
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

  setToken(token: string | null | readonly AdminCredential[]): void {
    const list = typeof token === 'string' || token === null ? adminCredentials(token) : token;
    this.credentials = list.map((c) => ({ token: Buffer.from(c.token), role: c.role }));
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

  /** The role of the request's bearer token; null when it has none or a wrong one. Open (no tokens): write. */
  private role(req: IncomingMessage): AdminRole | null {
    if (this.credentials.length === 0) return 'write';
    const header = req.headers.authorization ?? '';
    if (!header.startsWith('Bearer ')) return null;
    const given = Buffer.from(header.slice(7));
    let role: AdminRole | null = null;
    // Every token is compared (constant time each), so the answer's timing does not tell which matched.
    for (const c of this.credentials) {
      if (given.length === c.token.length && timingSafeEqual(given, c.token) && role !== 'write') role = c.role;
    }
    return role;
  }

  /** The request listener: every request gets a JSON reply, whatever it holds (see the module comment). */
  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    void this.dispatch(req, res);
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let reply: AdminReply;
    try {
      reply = await this.answer(req, res);
    } catch (err) {
      if (!req.complete) drainBody(req, res);
      reply = this.errorReply(err, req);
    }
    try {
      if (reply.stream !== undefined) {
        reply.stream(res);
        return;
      }
      send(res, reply);
    } catch (err) {
      // A route's body that JSON cannot write (a cycle, a BigInt): the route's fault, not the client's.
      if (!res.headersSent) send(res, this.errorReply(err, req));
      else res.destroy();
    }
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<AdminReply> {
    if (this.uiDir !== null && req.url !== undefined && req.url.startsWith('/ui')) {
      const q = req.url.indexOf('?');
      const path = q === -1 ? req.url : req.url.slice(0, q);
      if (isUiPath(path)) return this.answerUi(this.uiDir, path, req, res);
    }
    const role = this.role(req);
    if (role === null) throw new UnauthorizedError('missing or wrong bearer token');
    requestRoles.set(req, role);
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > MAX_DRAINED_BODY_BYTES) {
      throw new AdminBodyTooLargeError(
        `request body of ${declared} bytes; the admin API takes at most ${MAX_DRAINED_BODY_BYTES}`,
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
      if (route.method !== 'GET' && role !== 'write') {
        throw new AdminForbiddenError(`${route.method} ${clip(path)} needs a token with the role "write"`);
      }
      let body: Record<string, unknown> | null = null;
      if (route.body === true) body = await readJsonBody(req, res);
      else drainBody(req, res);
      return await route.handle(params, req, body);
    }
    if (allowed !== null) {
      const allow = [...new Set(allowed)].join(', ');
      throw new AdminMethodError(`${clip(req.method ?? '')} is not allowed on ${clip(path)}; allowed: ${allow}`, allow);
    }
    throw new AdminNotFoundError(`no admin endpoint ${clip(path)}`);
  }

  /**
   * The dashboard's static files: GET and HEAD, no token (they hold no data; the API calls they make are checked).
   * Only names found in the built folder are served (see static-files.ts): a path never reaches the disk.
   */
  private async answerUi(dir: string, path: string, req: IncomingMessage, res: ServerResponse): Promise<AdminReply> {
    drainBody(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const message = `${clip(req.method ?? '')} is not allowed on ${clip(path)}; allowed: GET, HEAD`;
      throw new AdminMethodError(message, 'GET, HEAD');
    }
    const files = await uiFiles(dir);
    if (files.size === 0) throw new AdminNotFoundError('the dashboard is not built here (npm run build makes dist/ui)');
    if (!files.has(path) && path !== '/ui' && path !== '/ui/') {
      throw new AdminNotFoundError(`no dashboard file ${clip(path)}`);
    }
    return { status: 200, body: null, stream: (out) => serveUiFile(files, path, req, out) };
  }

  /** Known errors answer with their code and message; anything else is logged and answered 500 without details. */
  private errorReply(err: unknown, req: IncomingMessage): AdminReply {
    if (err instanceof AdminInvalidError) {
      return { status: 422, body: errorBody(err.code, 'invalid request', { issues: err.issues }) };
    }
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

/** Reads a route's JSON body: at most MAX_BODY_BYTES (else 413 and the connection ends), an object (else 400). */
function readJsonBody(req: IncomingMessage, res: ServerResponse): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', function collectAdminBody(chunk: Buffer) {
      if (failed) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        failed = true;
        res.shouldKeepAlive = false;
        reject(new AdminBodyTooLargeError(`request body over ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', function adminBodyFailed(err: Error) {
      if (failed) return;
      failed = true;
      reject(new AdminBodyError(`the request body did not arrive: ${err.message}`));
    });
    req.on('end', function adminBodyDone() {
      if (failed) return;
      const text = Buffer.concat(chunks).toString('utf8');
      let value: unknown;
      try {
        value = text.trim() === '' ? {} : JSON.parse(text);
      } catch (err) {
        reject(new AdminBodyError(`the request body is not JSON: ${clip((err as Error).message)}`));
        return;
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        reject(new AdminBodyError('the request body must be a JSON object'));
        return;
      }
      resolve(value as Record<string, unknown>);
    });
  });
}

/** Drains an unwanted body; one larger than the admin API accepts to drain ends the connection. */
function drainBody(req: IncomingMessage, res: ServerResponse): void {
  if (req.listenerCount('data') > 0) return;
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
