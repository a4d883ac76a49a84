import type { Server } from 'node:net';

/** Who binds a service's listening socket when it is not the process itself (a worker of a fleet). */
export interface ListenHook {
  /** Like `server.listen({ host, port, backlog })`: 'listening' or 'error' follows on the server. */
  listen(server: Server, service: string, host: string, port: number, backlog: number): void;
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
