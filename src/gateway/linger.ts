import type { Socket } from 'node:net';

/** How long a refused request's connection stays open, reading and discarding, after its answer went out. */
export const LINGER_MS = 5_000;
/**
 * How much of a refused body is read and discarded before the connection is cut: enough for a client that sends a
 * body a little over the default maxBodyBytes (10 MiB) and reads only once it is sent. Discarded bytes cost no memory.
 */
export const DISCARD_MAX_BYTES = 16 * 1024 * 1024;

const LINGERING = Symbol('tidegate.lingering');
type LingeringSocket = Socket & { [LINGERING]?: NodeJS.Timeout };

/**
 * A lingering close for an answer sent before the request body was read (413, 503, 408 with `connection: close`).
 * node:http closes such a connection as soon as the answer is written (`socket.destroySoon()` after a last
 * response); a client still writing its body then gets a reset, often before it reads the answer (`EPIPE` in the
 * openai SDK). Here the close only sends FIN: the rest of the body is still read and thrown away (the caller counts
 * it against DISCARD_MAX_BYTES), the client reads the answer and closes, or LINGER_MS later the socket is destroyed.
 */
export function lingerOnClose(socket: Socket): void {
  const s = socket as LingeringSocket;
  if (s.destroyed || s[LINGERING] !== undefined) return;
  // An own property shadows net.Socket.prototype.destroySoon for this socket only (node:http calls it by name).
  s.destroySoon = lingeringDestroySoon;
}

/** Whether the connection is closing after an early answer: requests pipelined behind it are not served. */
export function isLingering(socket: Socket): boolean {
  return socket.destroySoon === lingeringDestroySoon;
}

function lingeringDestroySoon(this: LingeringSocket): void {
  if (this.writable) this.end();
  if (this[LINGERING] !== undefined || this.destroyed) return;
  const timer = setTimeout(lingerOver, LINGER_MS, this);
  timer.unref();
  this[LINGERING] = timer;
  this.once('close', lingerClosed);
}

function lingerOver(socket: LingeringSocket): void {
  socket.destroy();
}

function lingerClosed(this: LingeringSocket): void {
  const timer = this[LINGERING];
  if (timer !== undefined) clearTimeout(timer);
}
