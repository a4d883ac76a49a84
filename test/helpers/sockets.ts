import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

/** Raw TCP clients: connect, read and write with backpressure, hash what passed. */

export function connectTo(port: number, host = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host, allowHalfOpen: true }, () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Reads until EOF; resolves with everything received. */
export function readAll(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
    socket.resume();
  });
}

/** Reads until `bytes` bytes have arrived. */
export function readBytes(socket: Socket, bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    function onData(c: Buffer): void {
      chunks.push(c);
      got += c.length;
      if (got >= bytes) {
        socket.removeListener('data', onData);
        socket.removeListener('error', reject);
        socket.pause();
        resolve(Buffer.concat(chunks));
      }
    }
    socket.on('data', onData);
    socket.once('error', reject);
    socket.resume();
  });
}

/** Writes `bytes` bytes through `socket` (to an echo target) and resolves once as many came back. */
export async function echoOnce(socket: Socket, bytes: number): Promise<void> {
  const back = readBytes(socket, bytes);
  socket.write(Buffer.alloc(bytes, 7));
  assert.equal((await back).length, bytes);
}

/** Reads one `\n`-terminated line. */
export async function readLine(socket: Socket): Promise<string> {
  let text = '';
  for (;;) {
    const chunk = (await readBytes(socket, 1)).toString();
    text += chunk;
    const nl = text.indexOf('\n');
    if (nl >= 0) {
      const rest = text.slice(nl + 1);
      if (rest) socket.unshift(Buffer.from(rest));
      return text.slice(0, nl);
    }
  }
}

/** Streams `total` random bytes in 64 KiB chunks with backpressure, hashing what was sent. */
export async function sendRandom(socket: Socket, total: number): Promise<string> {
  const hash = createHash('sha256');
  let sent = 0;
  while (sent < total) {
    const chunk = randomBytes(Math.min(65536, total - sent));
    hash.update(chunk);
    sent += chunk.length;
    if (!socket.write(chunk)) await once(socket, 'drain');
  }
  return hash.digest('hex');
}

/** Writes `total` bytes with backpressure. */
export async function sendBytes(socket: Socket, total: number): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 1);
  let sent = 0;
  while (sent < total) {
    const n = Math.min(chunk.length, total - sent);
    sent += n;
    if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) await drainedOrGone(socket, sent, total);
  }
}

/** Resolves at 'drain'; rejects when the socket closes first (no 'drain' would ever come: the test would hang). */
function drainedOrGone(socket: Socket, sent: number, total: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const gone = (): Error =>
      new Error(`the connection closed with ${total - sent + socket.writableLength} of ${total} bytes unsent`);
    if (socket.destroyed) {
      reject(gone());
      return;
    }
    const onDrain = (): void => {
      socket.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      socket.off('drain', onDrain);
      reject(gone());
    };
    socket.once('drain', onDrain);
    socket.once('close', onClose);
  });
}

/** Hashes everything received until EOF. */
export function hashUntilEnd(socket: Socket): Promise<{ hash: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bytes = 0;
    socket.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
    });
    socket.once('end', () => resolve({ hash: hash.digest('hex'), bytes }));
    socket.once('error', reject);
  });
}

/** Counts bytes received until the peer ends or resets the connection (then closes our side too). */
export function countUntilClose(socket: Socket): Promise<number> {
  return new Promise((resolve) => {
    let bytes = 0;
    socket.on('data', (c: Buffer) => (bytes += c.length));
    socket.on('error', () => undefined);
    socket.once('end', () => socket.destroy());
    socket.once('close', () => resolve(bytes));
  });
}

/** Resolves when the socket is closed (by either side). */
export function closed(socket: Socket): Promise<void> {
  return socket.closed ? Promise.resolve() : once(socket, 'close').then(() => undefined);
}

/** Connects to `port`, writes `total` bytes, ends; resolves once the connection has closed, with the bytes received. */
export async function sendThrough(port: number, total: number): Promise<number> {
  const c = await connectTo(port);
  const received = countUntilClose(c);
  await sendBytes(c, total);
  c.end();
  return received;
}
