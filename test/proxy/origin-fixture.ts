import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { spawn, spawnSync } from 'node:child_process';

/** What the origin saw of one request. */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  /** Body chunks in arrival order. */
  readonly chunks: Buffer[];
}

/**
 * A real HTTP origin on 127.0.0.1 for proxy tests: `/echo` answers the request body, `/bytes/N` N bytes,
 * `/hop` a response with hop-by-hop fields, `/slow-chunks` a chunk, then another once `release()` is called, `/ws`
 * a WebSocket handshake (RFC 6455) followed by an echo of one frame. It counts its TCP connections.
 */
export interface Origin {
  readonly port: number;
  readonly requests: SeenRequest[];
  readonly connections: number;
  /** Resolves when the origin has seen the first body chunk of a request to `/stream-in`. */
  firstChunk: Promise<Buffer>;
  release(): void;
  close(): Promise<void>;
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export async function startOrigin(): Promise<Origin> {
  let connections = 0;
  const requests: SeenRequest[] = [];
  let gotFirst!: (b: Buffer) => void;
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const origin: Origin = {
    port: 0,
    requests,
    get connections() {
      return connections;
    },
    firstChunk: new Promise<Buffer>((r) => (gotFirst = r)),
    release: () => release(),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server: Server = createServer((req, res) => {
    const seen: SeenRequest = {
      method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, chunks: [],
    };
    requests.push(seen);
    req.on('data', (c: Buffer) => {
      seen.chunks.push(c);
      if (req.url === '/stream-in' && seen.chunks.length === 1) gotFirst(c);
    });
    req.on('end', () => {
      const url = req.url!;
      if (url.startsWith('/bytes/')) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(Buffer.alloc(Number(url.slice(7)), 0x61));
      } else if (url === '/hop') {
        res.writeHead(200, [
          'Connection', 'X-Secret', 'X-Secret', 'hidden', 'Keep-Alive', 'timeout=5', 'Proxy-Authenticate', 'Basic',
          'Upgrade', 'h2c', 'X-Kept', 'yes', 'Content-Length', '2',
        ] as unknown as Record<string, string>);
        res.end('ok');
      } else if (url === '/slow-chunks') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first;');
        void released.then(() => res.end('second'));
      } else {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-origin-url': url });
        res.end(Buffer.concat(seen.chunks).length > 0 ? Buffer.concat(seen.chunks) : `hello ${req.method} ${url}`);
      }
    });
  });
  server.on('connection', () => connections++);
  server.on('upgrade', (req, socket: Socket) => {
    requests.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, chunks: [] });
    const key = req.headers['sec-websocket-key'];
    if (req.url !== '/ws' || typeof key !== 'string' || req.headers.upgrade?.toLowerCase() !== 'websocket') {
      socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno');
      return;
    }
    const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
      + `Sec-WebSocket-Accept: ${accept}\r\n\r\n`);
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const frame = readFrame(buffered);
      if (frame === null) return;
      buffered = buffered.subarray(frame.used);
      // Echo as an unmasked server text frame.
      socket.write(encodeFrame(Buffer.from(`echo:${frame.payload.toString()}`), false));
    });
    socket.on('error', () => undefined);
    // An upgraded socket is half-open in Node's server: the client's end ends it here.
    socket.on('end', () => socket.end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  (origin as { port: number }).port = (server.address() as AddressInfo).port;
  return origin;
}

/** One RFC 6455 frame (FIN, text, payload < 126 bytes), masked as a client must. */
export function encodeFrame(payload: Buffer, masked: boolean): Buffer {
  if (payload.length >= 126) throw new Error('test frames are short');
  const head = Buffer.from([0x81, (masked ? 0x80 : 0) | payload.length]);
  if (!masked) return Buffer.concat([head, payload]);
  const mask = Buffer.from([1, 2, 3, 4]);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([head, mask, body]);
}

/** A short frame from `b`, unmasked; null when incomplete. */
export function readFrame(b: Buffer): { payload: Buffer; used: number } | null {
  if (b.length < 2) return null;
  const masked = (b[1]! & 0x80) !== 0;
  const len = b[1]! & 0x7f;
  const at = masked ? 6 : 2;
  if (b.length < at + len) return null;
  const payload = Buffer.from(b.subarray(at, at + len));
  if (masked) for (let i = 0; i < len; i++) payload[i] = payload[i]! ^ b[2 + (i % 4)]!;
  return { payload, used: at + len };
}

/** Whether curl can be spawned here. */
export function hasCurl(): boolean {
  return spawnSync('curl', ['--version']).status === 0;
}

/** Runs curl; resolves with its exit code, the HTTP status it printed last (`-w`) and the body. */
export function curl(args: readonly string[]): Promise<{ exit: number; status: number; body: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('curl', ['-sS', '--max-time', '10', '-o', '-', '-w', '\n%{http_code}', ...args]);
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('close', (code) => {
      const cut = out.lastIndexOf('\n');
      resolve({ exit: code ?? -1, status: Number(out.slice(cut + 1)), body: out.slice(0, cut), stderr: err });
    });
  });
}
