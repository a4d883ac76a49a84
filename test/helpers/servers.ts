import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/** A TCP server on 127.0.0.1 with a random port; `port` is set once it listens. */
export interface TestServer {
  readonly server: Server;
  readonly port: number;
  readonly address: string;
  readonly sockets: Set<Socket>;
  close(): Promise<void>;
}

export async function listen(handler: (socket: Socket) => void, options: { allowHalfOpen?: boolean; port?: number } = {}): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: options.allowHalfOpen ?? true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    handler(socket);
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    address: `127.0.0.1:${port}`,
    sockets,
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port that was free a moment ago (for a process the test starts that must bind it itself). */
export async function freePort(): Promise<number> {
  const s = await listen(() => undefined);
  await s.close();
  return s.port;
}

/** Echoes every byte back and passes the client's EOF on. */
export function echoServer(): Promise<TestServer> {
  return listen((socket) => socket.pipe(socket));
}

/** Answers every connection with `tag` then the echo of what it receives; tells strategies apart. */
export function taggedServer(tag: string, port = 0): Promise<TestServer> {
  return listen((socket) => {
    socket.write(`${tag}\n`);
    socket.pipe(socket);
  }, { port });
}

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

/** Resolves when the socket is closed (by either side). */
export function closed(socket: Socket): Promise<void> {
  return socket.closed ? Promise.resolve() : once(socket, 'close').then(() => undefined);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns true (or throws after `timeoutMs`): for state that settles asynchronously. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
