import { getSystemErrorMap } from 'node:util';
import { loadAddonExports } from '../util/addon.js';

/** The addon's listening-socket calls (native/listen_socket.cc); negative numbers are -errno. */
export interface ListenCalls {
  listenSocket(host: string, port: number, backlog: number): [fd: number, port: number] | number;
  dupFd(fd: number): number;
  closeFd(fd: number): number;
  /** Steers fd's reuseport group by the receiving CPU (index = cpu % size); absent in older builds. */
  steerByCpu?(fd: number, size: number): number;
  /** Every thread of this process onto these CPUs; absent in older builds. */
  pinProcess?(cpus: readonly number[]): number;
}

let calls: ListenCalls | null | undefined;

/**
 * The addon's SO_REUSEPORT calls, or null where they cannot be had (not Linux, no addon build, a build from before
 * they existed). Looked up once, through the one addon loader the relay engine uses too (src/util/addon.ts).
 */
export function reusePortCalls(): ListenCalls | null {
  if (calls !== undefined) return calls;
  calls = null;
  if (process.platform !== 'linux') return null;
  try {
    const addon = loadAddonExports() as Partial<ListenCalls>;
    if (typeof addon.listenSocket === 'function' && typeof addon.dupFd === 'function' &&
      typeof addon.closeFd === 'function') calls = addon as ListenCalls;
  } catch {
    // No addon: node:cluster shares the listeners instead.
  }
  return calls;
}

/** A listening socket (SO_REUSEADDR + SO_REUSEPORT) on an IP address; its fd and the port it got. */
export function openReusePort(
  calls: ListenCalls, address: string, port: number, backlog: number,
): { fd: number; port: number } | NodeJS.ErrnoException {
  const r = calls.listenSocket(address, port, Math.min(65535, Math.max(1, backlog)));
  if (typeof r === 'number') return listenError(r, address, port);
  return { fd: r[0], port: r[1] };
}

/** An error shaped like net's own `listen` failures (code, errno, syscall, address, port). */
export function listenError(errno: number, address: string, port: number): NodeJS.ErrnoException {
  const [code, text] = getSystemErrorMap().get(errno) ?? ['UNKNOWN', 'unknown error'];
  const err = new Error(`listen ${code}: ${text} ${address}:${port}`) as NodeJS.ErrnoException & {
    address: string; port: number;
  };
  err.code = code;
  err.errno = errno;
  err.syscall = 'listen';
  err.address = address;
  err.port = port;
  return err;
}
