import cluster from 'node:cluster';
import type { Server } from 'node:net';

/** Who binds a service's listening socket when it is not the process itself (a worker of a fleet). */
export interface ListenHook {
  /** Like `server.listen({ host, port, backlog })`: 'listening' or 'error' follows on the server. */
  listen(server: Server, service: string, host: string, port: number, backlog: number): void;
  /** Whether `server` listens on a socket other processes hold too, whose queue outlives the server's copy. */
  shares(server: Server): boolean;
}

let hook: ListenHook | null = null;

/** A fleet's worker installs its hook before any service starts (src/cluster/worker-listeners.ts). */
export function setListenHook(next: ListenHook | null): void {
  hook = next;
}

/**
 * Binds a service's listener: every service listener (start, re-bind, a handler restart) goes through here, so a
 * worker can take its socket from the primary instead. One process: exactly `server.listen`.
 */
export function listenService(server: Server, service: string, host: string, port: number, backlog: number): void {
  if (hook === null) server.listen({ host, port, backlog });
  else hook.listen(server, service, host, port, backlog);
}

/**
 * Whether a service's bound server listens on a socket shared with other processes (a fleet slot's socket, held by
 * the primary and taken again by a replacement worker): closing it must leave its queued connections there. One
 * process: never. A node:cluster worker's listener that has an fd is the primary's socket (`SCHED_NONE`).
 */
export function sharesSocket(server: Server): boolean {
  return hook !== null ? hook.shares(server) : cluster.isWorker;
}

/**
 * `listenService` as a promise, for a re-created listener: settles on 'listening' or the first 'error', which also
 * goes to `failed` (a port bound by someone else meanwhile: the caller's listener recovery re-binds with back-off).
 */
export function relisten(
  server: Server, service: string, host: string, port: number, backlog: number,
  failed: (err: NodeJS.ErrnoException) => void,
): Promise<void> {
  return new Promise<void>(function relistening(resolve, reject) {
    function onError(err: NodeJS.ErrnoException): void {
      server.removeListener('listening', onListening);
      failed(err);
      reject(err);
    }
    function onListening(): void {
      server.removeListener('error', onError);
      resolve();
    }
    server.prependOnceListener('error', onError);
    server.once('listening', onListening);
    listenService(server, service, host, port, backlog);
  });
}
