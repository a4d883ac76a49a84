import { lookup } from 'node:dns';
import { isIP, Socket, type Server } from 'node:net';
import type { ListenHook } from '../listen/listen.js';
import { listenError, openReusePort, type ListenCalls } from '../listen/reuseport.js';
import type { ListenerKey } from './messages.js';

/** A received listening socket: its own fd (the IPC handle it came in is closed at once). */
interface Held {
  readonly key: ListenerKey;
  readonly id: string;
  fd: number;
}

/** What the IPC channel hands a worker with a `listener` message: a raw TCP handle (see listener-table.ts). */
export interface ReceivedHandle {
  readonly fd: number;
  close(): void;
}

export function listenerId(key: ListenerKey): string {
  return `${key.service}\u0000${key.host}\u0000${key.port}`;
}

/**
 * A worker's listening sockets with SO_REUSEPORT, as its slot holds them in the primary (listener-table.ts). A
 * service binds by taking a copy of its slot's socket (dup), so the socket outlives the worker: a replacement takes
 * the same one, and connections queued in it are accepted by whichever worker holds it. A listener the primary
 * could not make (or dropped) is bound here, with SO_REUSEPORT too, so the kernel still spreads it.
 */
export class WorkerListeners implements ListenHook {
  private readonly calls: ListenCalls;
  private readonly held = new Map<string, Held>();
  /** Servers listening on a copy of a held socket (the slot's: the primary and a replacement hold it too). */
  private readonly onHeld = new WeakSet<Server>();

  constructor(calls: ListenCalls) {
    this.calls = calls;
  }

  /** Keeps a socket the primary sent (a copy of it: the handle is closed, its fd is dup'ed first). */
  add(key: ListenerKey, handle: ReceivedHandle | undefined): void {
    if (handle === undefined) return;
    const fd = this.calls.dupFd(handle.fd);
    handle.close();
    if (fd < 0) return;
    const id = listenerId(key);
    const old = this.held.get(id);
    if (old !== undefined) this.calls.closeFd(old.fd);
    this.held.set(id, { key, id, fd });
  }

  /** The primary's set for this config: sockets no longer in it are let go (servers keep their own copies). */
  retain(keys: readonly ListenerKey[]): void {
    const wanted = new Set(keys.map(listenerId));
    for (const [id, held] of this.held) {
      if (wanted.has(id)) continue;
      this.calls.closeFd(held.fd);
      this.held.delete(id);
    }
  }

  /** The worker stops: its copies go (the servers close theirs as they drain). */
  closeAll(): void {
    for (const held of this.held.values()) this.calls.closeFd(held.fd);
    this.held.clear();
  }

  get size(): number {
    return this.held.size;
  }

  listen(server: Server, service: string, host: string, port: number, backlog: number): void {
    const held = this.find(service, host, port);
    if (held !== null) {
      const fd = this.calls.dupFd(held.fd);
      if (fd < 0) {
        failLater(server, listenError(fd, host, port));
        return;
      }
      this.onHeld.add(server);
      adopt(server, fd, backlog);
      return;
    }
    this.onHeld.delete(server);
    if (isIP(host) !== 0) {
      this.bindOwn(server, host, port, backlog);
      return;
    }
    const listeners = this;
    lookup(host, function listenAddress(err, address) {
      if (err !== null) server.emit('error', err);
      else listeners.bindOwn(server, address, port, backlog);
    });
  }

  shares(server: Server): boolean {
    return this.onHeld.has(server);
  }

  /** The held socket for a service's address: by the configured port, or by the port it got (port 0). */
  private find(service: string, host: string, port: number): Held | null {
    for (const held of this.held.values()) {
      const k = held.key;
      if (k.service === service && k.host === host && (k.port === port || k.bound === port)) return held;
    }
    return null;
  }

  private bindOwn(server: Server, address: string, port: number, backlog: number): void {
    const r = openReusePort(this.calls, address, port, backlog);
    if ('fd' in r) adopt(server, r.fd, backlog);
    else failLater(server, r);
  }
}

/**
 * net.Server takes a socket's handle as a listener (`listen(handle)`, documented: "anything with an underlying
 * _handle"), which is also the one listen that never goes through node:cluster's primary.
 */
function adopt(server: Server, fd: number, backlog: number): void {
  server.listen(new Socket({ fd, readable: false, writable: false }), backlog);
}

function failLater(server: Server, err: NodeJS.ErrnoException): void {
  process.nextTick(function listenFailed() {
    server.emit('error', err);
  });
}
