import { once } from 'node:events';
import { createServer as createHttpServer, type RequestListener, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** A TCP server on 127.0.0.1 (or another loopback address) with a random port; `close()` ends its connections too. */
export interface TestServer {
  readonly server: Server;
  readonly port: number;
  /** `127.0.0.1:PORT` */
  readonly address: string;
  readonly sockets: Set<Socket>;
  close(): Promise<void>;
}

export async function listen(
  handler: (socket: Socket) => void, options: { allowHalfOpen?: boolean; port?: number; host?: string } = {},
): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: options.allowHalfOpen ?? true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined); // resets are expected in many tests; those that check them listen themselves
    handler(socket);
  });
  const host = options.host ?? '127.0.0.1';
  server.listen(options.port ?? 0, host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    address: `${host}:${port}`,
    sockets,
    close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      return closedWithin(closed, server, CLOSE_WATCHDOG_MS);
    },
  };
}

/** How long a close may take before the test fails saying so, rather than hanging the suite silently. */
const CLOSE_WATCHDOG_MS = 30_000;

/** `closed`, or an error with the server's connection count once `limitMs` has passed. */
function closedWithin(closed: Promise<void>, server: Server, limitMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const watchdog = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      server.getConnections((_err, count) => {
        reject(new Error(`test server did not close within ${limitMs} ms: ${count} connections left`));
      });
    }, limitMs);
  });
  return Promise.race([closed, watchdog]).finally(() => clearTimeout(timer));
}

/** An HTTP server on 127.0.0.1 with a random port; `close()` ends its connections too. */
export interface TestHttpServer {
  readonly server: HttpServer;
  readonly port: number;
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  close(): Promise<void>;
}

export async function listenHttp(handler: RequestListener): Promise<TestHttpServer> {
  const server = createHttpServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    origin: `http://127.0.0.1:${port}`,
    close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      return closed;
    },
  };
}

/**
 * A port that was free a moment ago, for a process that must bind it itself or a port nothing listens on; or the first
 * of a run of them (a `portRange`). Never one handed out before in this process.
 */
export { freePort, freePortRange } from '../../bench/lib/ports.js';
