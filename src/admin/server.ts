import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ListenError, TidegateError } from '../errors.js';
import type { Logger } from '../log.js';
import { formatHostPort, type HostPort } from '../util/address.js';

/** What a route answers: a JSON body, or text (Prometheus) with its content type. */
export interface AdminReply {
  readonly status: number;
  readonly body: unknown;
  readonly contentType?: string;
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

/**
 * The admin HTTP API. It knows nothing of subsystems: the runtime hands it routes. Loopback by default; when a
 * token is set every request needs `Authorization: Bearer <token>`.
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
    this.server = createServer({ keepAliveTimeout: 5_000 }, (req, res) => void this.dispatch(req, res));
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
      const onError = (err: NodeJS.ErrnoException): void => reject(new ListenError('admin', formatHostPort(address), err));
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

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private authorized(req: IncomingMessage): boolean {
    if (this.token === null) return true;
    const header = req.headers.authorization ?? '';
    if (!header.startsWith('Bearer ')) return false;
    const given = Buffer.from(header.slice(7));
    return given.length === this.token.length && timingSafeEqual(given, this.token);
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The admin API reads no request bodies; drain whatever was sent.
    req.resume();
    const path = (req.url ?? '/').split('?')[0]!;
    if (!this.authorized(req)) {
      send(res, { status: 401, body: errorBody('TG_ERR_UNAUTHORIZED', 'missing or wrong bearer token') });
      return;
    }
    let pathMatched = false;
    for (const { route, pattern, names } of this.routes) {
      const m = pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== req.method) continue;
      const params: Record<string, string> = {};
      names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1]!)));
      try {
        send(res, await route.handle(params, req));
      } catch (err) {
        const known = err instanceof TidegateError;
        if (!known) this.log.error({ err, path }, 'admin route failed');
        send(res, { status: known ? 400 : 500, body: errorBody(known ? err.code : 'TG_ERR_INTERNAL', (err as Error).message) });
      }
      return;
    }
    send(res, pathMatched
      ? { status: 405, body: errorBody('TG_ERR_METHOD', `${req.method} is not allowed on ${path}`) }
      : { status: 404, body: errorBody('TG_ERR_NOT_FOUND', `no admin endpoint ${path}`) });
  }
}

export function errorBody(code: string, message: string, extra?: Record<string, unknown>): unknown {
  return { error: { code, message, ...extra } };
}

function send(res: ServerResponse, reply: AdminReply): void {
  const text = typeof reply.body === 'string' && reply.contentType ? reply.body : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': reply.contentType ?? 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
