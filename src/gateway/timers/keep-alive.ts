import type { Socket } from 'node:net';
import type { AddressEntry } from '../../origin/per-ip.js';
import { SlotList } from '../../util/slot-list.js';

/** One client connection of a gateway service: how many of its requests are open, and when it was last used. */
export class ClientConnection {
  /** Index in the sweeper's list. */
  slot = -1;
  readonly socket: Socket;
  readonly owner: KeepAliveSweeper;
  /** Requests whose responses have not closed yet (more than one when the client pipelines). */
  open = 0;
  /** Responses closed on this connection: 0 until its first request is answered. */
  served = 0;
  /** The sweeper's clock when the connection last had a response close, sent bytes, or was accepted. */
  lastActive: number;
  /** The socket's bytesRead at the last sweep: bytes of a request still arriving count as use. */
  bytesRead = 0;
  /** The client address a trusted PROXY header named; null: the socket's own. */
  origin: string | null = null;
  /** The address's `perIp` entry (live count, request rate) while the service has `perIp`; else null. */
  perIp: AddressEntry | null = null;

  constructor(socket: Socket, owner: KeepAliveSweeper) {
    this.socket = socket;
    this.owner = owner;
    this.lastActive = owner.clock;
  }

  requestStarted(): void {
    this.open++;
  }

  responseClosed(): void {
    this.open--;
    this.served++;
    this.lastActive = this.owner.clock;
  }
}

/**
 * Closes client connections that stayed idle for the keep-alive timeout, from one interval over the service's
 * connections. node:http's own keepAliveTimeout arms a socket timer after every response and clears it at every
 * request, and then refreshes it on every read and write: about 1.6 µs of each gateway request (measured). Here a
 * request costs two counter updates. The clock is the sweep's own, so an idle connection is closed within one tick
 * of the timeout (a tick is a tenth of it, between 250 ms and 5 s).
 */
export class KeepAliveSweeper {
  private readonly live = new SlotList<ClientConnection>('slot');
  private idleMs: number;
  private tickMs: number;
  private timer: NodeJS.Timeout | null = null;
  /** Date.now() at the last tick (or when the sweeper started or got its first connection). */
  clock = Date.now();

  constructor(idleMs: number) {
    this.idleMs = idleMs;
    this.tickMs = tickFor(idleMs);
  }

  get size(): number {
    return this.live.size;
  }

  /** A reload changed the timeout; the next tick uses it. */
  retune(idleMs: number): void {
    if (idleMs === this.idleMs) return;
    this.idleMs = idleMs;
    this.tickMs = tickFor(idleMs);
    this.stop();
    if (this.live.size > 0) this.arm();
  }

  add(socket: Socket): ClientConnection {
    if (this.timer === null) {
      this.clock = Date.now();
      this.arm();
    }
    const connection = new ClientConnection(socket, this);
    this.live.add(connection);
    return connection;
  }

  remove(connection: ClientConnection): void {
    this.live.delete(connection);
    if (this.live.size === 0) this.stop();
  }

  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
  }

  sweep(): void {
    const now = Date.now();
    this.clock = now;
    const idleMs = this.idleMs;
    const live = this.live;
    // Backwards: a destroyed socket's close may take it off the list, and the member moved into its place was checked.
    for (let i = live.size - 1; i >= 0; i--) {
      if (i >= live.size) continue;
      const c = live.at(i);
      if (c.open !== 0) continue;
      // A request whose head is still arriving has not reached the gateway yet; its bytes are use, as they are
      // for node:http's own timer.
      const read = c.socket.bytesRead;
      if (read !== c.bytesRead) {
        c.bytesRead = read;
        c.lastActive = now;
        continue;
      }
      if (now - c.lastActive >= idleMs) c.socket.destroy();
    }
  }

  /**
   * A drain's step: closes the connections that were used and have no request open (node:http's
   * closeIdleConnections would also close one accepted a moment ago whose first request is still in flight, and its
   * client would read a reset). Returns how many connections are still waiting for their first request.
   */
  closeIdle(): number {
    const live = this.live;
    let waiting = 0;
    for (let i = live.size - 1; i >= 0; i--) {
      if (i >= live.size) continue;
      const c = live.at(i);
      if (c.open !== 0) continue;
      if (c.served === 0) waiting++;
      else c.socket.destroy();
    }
    return waiting;
  }

  private arm(): void {
    this.timer = setInterval(sweepTick, this.tickMs, this);
    this.timer.unref();
  }
}

function sweepTick(sweeper: KeepAliveSweeper): void {
  sweeper.sweep();
}

function tickFor(idleMs: number): number {
  return Math.max(250, Math.min(5000, Math.floor(idleMs / 10)));
}
