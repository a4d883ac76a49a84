import type { Server, Socket } from 'node:net';
import { RelayHandoverError } from '../../errors.js';

/**
 * Taking a socket's fd away from Node. This is the ONLY file that touches Node internals (`socket._handle`); the
 * test in test/native/handover.test.ts fails loudly if a Node version changes them.
 *
 * Order matters: pause the stream, read out what Node already buffered (a `read()` may restart libuv reading, which
 * only takes effect at the next poll), then `readStop()` so libuv stops watching the fd before the event loop polls
 * again. The caller passes the fd to the addon, which dup()s it, and then destroys the Node socket at once: libuv's
 * close does EPOLL_CTL_DEL before close(2), so no registration survives on the shared file description, and from then
 * on only the addon's dup exists (exactly one owner of close()).
 */

/** The part of Node's TCPWrap / PipeWrap this module relies on. */
interface StreamHandle {
  readonly fd: number;
  reading: boolean;
  readStop(): number;
}

export interface DetachedSocket {
  /** Node's fd number; valid until the socket is destroyed, so dup it first. */
  readonly fd: number;
  /** Bytes Node read from the socket before the hand-over, to be relayed before anything else; null if none. */
  readonly pending: Buffer | null;
}

function handleOf(socket: Socket): StreamHandle | null {
  const handle = (socket as unknown as { _handle?: unknown })._handle;
  if (handle === null || typeof handle !== 'object') return null;
  const h = handle as Partial<StreamHandle>;
  if (typeof h.fd !== 'number' || typeof h.readStop !== 'function') return null;
  return handle as StreamHandle;
}

/** A TLS socket's fd carries ciphertext and its TLS state lives in Node: it cannot be relayed by fd. */
export function isTlsSocket(socket: Socket): boolean {
  return (socket as Socket & { encrypted?: boolean }).encrypted === true;
}

/** Whether `socket` can be handed over right now (connected, with a real fd). */
export function canDetach(socket: Socket): boolean {
  if (socket.destroyed || socket.connecting) return false;
  if (isTlsSocket(socket)) return false;
  const handle = handleOf(socket);
  return handle !== null && handle.fd >= 0;
}

/** Stops Node from reading `socket` and returns its fd plus the bytes Node had already read. */
export function detachSocket(socket: Socket): DetachedSocket {
  if (socket.destroyed) throw new RelayHandoverError('expected a live socket to hand over, got a destroyed one');
  if (socket.connecting) {
    throw new RelayHandoverError('expected a connected socket to hand over, got one still connecting');
  }
  if (isTlsSocket(socket)) {
    // Such a pair must be relayed in JavaScript.
    throw new RelayHandoverError('expected a plain TCP or Unix socket to hand over, got a TLS socket');
  }
  const handle = handleOf(socket);
  if (handle === null) {
    throw new RelayHandoverError(
      'expected a socket with a stream handle exposing fd and readStop(); this Node version differs',
    );
  }
  if (handle.fd < 0) throw new RelayHandoverError(`expected a socket with an fd, got fd ${handle.fd}`);
  socket.pause();
  const pending = takeBuffered(socket);
  handle.readStop();
  handle.reading = false;
  return { fd: handle.fd, pending };
}

function takeBuffered(socket: Socket): Buffer | null {
  if (socket.readableLength === 0) return null;
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk: unknown = socket.read();
    if (chunk === null) break;
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, socket.readableEncoding ?? 'utf8') : (chunk as Buffer);
    chunks.push(buf);
    total += buf.length;
  }
  if (total === 0) return null;
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

/** The fd of a bound server's handle, or -1 (none: a cluster worker's round-robin handle; not bound). */
export function listeningFd(server: Server): number {
  const handle = (server as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}
