import { lookup } from 'node:dns/promises';
import { isIP, Socket } from 'node:net';
import type { ServiceConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { openReusePort, type ListenCalls } from '../listen/reuseport.js';
import type { ListenerKey } from './messages.js';
import { steerByCpuWanted } from './steering.js';
import { listenerId } from './worker-listeners.js';

/** The primary's backlog for a socket no worker listens on yet (a worker's listen sets the service's own). */
const PRIMARY_BACKLOG = 511;

/** One service address: a socket per slot, all bound to the same port with SO_REUSEPORT. */
class Entry {
  readonly key: ListenerKey;
  readonly id: string;
  readonly address: string;
  /** Index = slot - 1; null while the slot has none (failed). The primary never accepts on them. */
  readonly sockets: (Socket | null)[];

  constructor(key: ListenerKey, address: string, slots: number) {
    this.key = key;
    this.id = listenerId(key);
    this.address = address;
    this.sockets = new Array<Socket | null>(slots).fill(null);
  }
}

/**
 * The listening sockets of a fleet with SO_REUSEPORT, held by the primary per worker slot: for every service
 * address, one socket per slot, all in one reuseport group, so the kernel spreads new connections over the slots
 * with no process in between. They belong to the slot, not to the worker in it: a worker gets copies of its
 * slot's sockets (an IPC handle each) and listens on them; a replacement (rolling restart, crash restart) gets the
 * same sockets, so the connections queued in them are accepted by the new worker instead of being reset. A slot
 * marked failed has its sockets closed, so the kernel stops sending it connections.
 */
export class ListenerTable {
  private readonly calls: ListenCalls;
  private readonly slots: number;
  private readonly log: Logger;
  private readonly entries = new Map<string, Entry>();

  constructor(calls: ListenCalls, slots: number, log: Logger) {
    this.calls = calls;
    this.slots = slots;
    this.log = log;
  }

  /** Opens the sockets of every service address not held yet. One that cannot be bound is left to the workers. */
  async update(services: readonly ServiceConfig[]): Promise<void> {
    for (const svc of services) {
      const key = { service: svc.name, host: svc.listen.host, port: svc.listen.port, bound: svc.listen.port };
      if (this.entries.has(listenerId(key))) continue;
      let address = key.host;
      if (isIP(address) === 0) {
        try {
          address = (await lookup(address)).address;
        } catch {
          continue;
        }
      }
      const entry = this.open(key, address);
      if (entry !== null) this.entries.set(entry.id, entry);
    }
  }

  /** Closes the sockets of addresses no service of `services` has (after a reload applied everywhere). */
  prune(services: readonly ServiceConfig[]): void {
    const wanted = new Set(services.map((s) => listenerId({
      service: s.name, host: s.listen.host, port: s.listen.port, bound: 0,
    })));
    for (const [id, entry] of this.entries) {
      if (wanted.has(id)) continue;
      for (const s of entry.sockets) s?.destroy();
      this.entries.delete(id);
    }
  }

  /** The keys of `services`' addresses (what a worker keeps; it lets go of the rest). */
  keys(services: readonly ServiceConfig[]): ListenerKey[] {
    const out: ListenerKey[] = [];
    for (const s of services) {
      const id = listenerId({ service: s.name, host: s.listen.host, port: s.listen.port, bound: 0 });
      const entry = this.entries.get(id);
      if (entry !== undefined) out.push(entry.key);
    }
    return out;
  }

  /** The sockets of one slot, opening again any it lost (a failed slot a rolling restart tries again). */
  forSlot(slot: number): { id: string; key: ListenerKey; handle: object }[] {
    const out: { id: string; key: ListenerKey; handle: object }[] = [];
    for (const entry of this.entries.values()) {
      let socket = entry.sockets[slot - 1] ?? null;
      if (socket === null) {
        const r = openReusePort(this.calls, entry.address, entry.key.bound, PRIMARY_BACKLOG);
        if (!('fd' in r)) {
          this.log.warn({ service: entry.key.service, worker: slot, err: r.message }, 'listener socket not opened');
          continue;
        }
        socket = entry.sockets[slot - 1] = holder(r.fd);
      }
      out.push({ id: entry.id, key: entry.key, handle: handleOf(socket) });
    }
    return out;
  }

  /** A failed slot: its sockets close, so its share of new connections goes to the other slots. */
  closeSlot(slot: number): void {
    for (const entry of this.entries.values()) {
      entry.sockets[slot - 1]?.destroy();
      entry.sockets[slot - 1] = null;
    }
  }

  closeAll(): void {
    for (const entry of this.entries.values()) for (const s of entry.sockets) s?.destroy();
    this.entries.clear();
  }

  private open(key: ListenerKey, address: string): Entry | null {
    const sockets: Socket[] = [];
    const fds: number[] = [];
    let port = key.port;
    for (let i = 0; i < this.slots; i++) {
      const r = openReusePort(this.calls, address, port, PRIMARY_BACKLOG);
      if (!('fd' in r)) {
        // The workers bind it themselves and report the failure each (as one process would at its start).
        for (const s of sockets) s.destroy();
        this.log.debug({ service: key.service, err: r.message }, 'listener left to the workers');
        return null;
      }
      port = r.port;
      fds.push(r.fd);
      sockets.push(holder(r.fd));
    }
    // Opt-in: each slot gets the connections whose SYN arrives on its CPUs (./steering.ts).
    if (steerByCpuWanted(this.slots) && this.calls.steerByCpu !== undefined && sockets.length > 0) {
      const r = this.calls.steerByCpu(fds[0]!, this.slots);
      if (r < 0) this.log.warn({ service: key.service, errno: r }, 'reuseport steering not attached');
    }
    const entry = new Entry({ ...key, bound: port }, address, this.slots);
    sockets.forEach((s, i) => (entry.sockets[i] = s));
    return entry;
  }
}

/**
 * A socket object around the fd, only so it can travel as an IPC handle. It neither reads nor listens in the
 * primary (a worker's copy does), so the primary never accepts a connection.
 */
function holder(fd: number): Socket {
  return new Socket({ fd, readable: false, writable: false });
}

/** The raw TCP handle: sent as such, the worker gets it without node wrapping it in a reading socket. */
function handleOf(socket: Socket): object {
  return (socket as unknown as { _handle: object })._handle;
}
