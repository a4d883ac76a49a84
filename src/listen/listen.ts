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
 * Who holds a service's bound socket, for a relay engine that would accept on it:
 * - `own`: this process alone (one process; a worker's own SO_REUSEPORT bind);
 * - `shared`: a fleet slot's socket, held by the primary and taken again by a replacement worker: closing this
 *   process's copy must leave its queued connections there;
 * - `cluster`: node:cluster's (the fallback). Round-robin gives no fd; `SCHED_NONE` gives the primary's socket, which
 *   the primary closes (and binds anew for the next worker) once every worker closed its server: an engine that kept
 *   a copy after Node's server closed would make that bind fail with EADDRINUSE. Node keeps accepting there.
 */
export function socketHolder(server: Server): 'own' | 'shared' | 'cluster' {
  if (hook !== null) return hook.shares(server) ? 'shared' : 'own';
  return cluster.isWorker ? 'cluster' : 'own';
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
