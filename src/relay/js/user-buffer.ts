import { Socket } from 'node:net';

/**
 * Reads into buffers we own instead of a new one per read. Node does this for sockets created with the `onread`
 * option (`net.connect({ onread })`), but a server's accepted sockets cannot ask for it, so the relay turns it on for a
 * socket it owns the way `net.Socket`'s constructor does: the three fields `onread` sets, then the handle's
 * `useUserBuffer`. Both are Node internals (lib/net.js, StreamBase), the same on Node 20 and 22; where either is
 * missing, `canReadInto` says no and the relay reads through 'data' events as before.
 */

interface OnreadFields {
  readonly buffer: symbol;
  readonly callback: symbol;
  readonly generator: symbol;
}

/** The symbols `onread` is stored under, found by their names on a socket that never connects. */
function findOnreadFields(): OnreadFields | null {
  const probe = new Socket();
  let buffer: symbol | null = null;
  let callback: symbol | null = null;
  let generator: symbol | null = null;
  for (const symbol of Object.getOwnPropertySymbols(probe)) {
    if (symbol.description === 'kBuffer') buffer = symbol;
    else if (symbol.description === 'kBufferCb') callback = symbol;
    else if (symbol.description === 'kBufferGen') generator = symbol;
  }
  probe.destroy();
  return buffer !== null && callback !== null && generator !== null ? { buffer, callback, generator } : null;
}

const fields = findOnreadFields();

interface UserBufferHandle {
  useUserBuffer?: (buffer: Uint8Array) => void;
}

interface OnreadSocket {
  _handle: UserBufferHandle | null;
  encrypted?: boolean;
  [field: symbol]: unknown;
}

/**
 * Called with each read: `nread` bytes at the start of `buffer`. Returning false stops reading (Node calls
 * `readStop`); `socket.resume()` starts again.
 */
export type ReadCallback = (nread: number, buffer: Buffer) => boolean;

/** Whether `socket` can read into our buffers: a connected plain TCP (not TLS) socket on a Node that has it. */
export function canReadInto(socket: Socket): boolean {
  const s = socket as unknown as OnreadSocket;
  return fields !== null && s.encrypted !== true && !socket.connecting && s._handle !== null &&
    typeof s._handle.useUserBuffer === 'function' && s[fields.buffer] === null;
}

/**
 * From now on `socket` reads into `first`, then into whatever `next` returns after each read; `onRead` gets the bytes.
 * No 'data' events follow; 'end' still does. Only after `canReadInto(socket)` said yes.
 */
export function readInto(socket: Socket, first: Buffer, onRead: ReadCallback, next: () => Buffer): void {
  const s = socket as unknown as OnreadSocket;
  const f = fields as OnreadFields;
  s[f.buffer] = first;
  s[f.callback] = onRead;
  s[f.generator] = next;
  (s._handle as Required<UserBufferHandle>).useUserBuffer(first);
}
