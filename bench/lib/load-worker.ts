/**
 * A load process forked by bench/lib/load.ts: a byte sink, a streaming source, a churn server or a churn client.
 * Load runs in its own processes so the bench harness never competes with it on the event loop, as iperf3 or wrk
 * would not. Talks to its parent over IPC; usage: load-worker.js sink|source|churn-server|churn.
 */
import { createServer, connect, type Socket, type Server } from 'node:net';
import { percentileOfSorted, ascending } from '../stats.js';

export type LoadRole = 'sink' | 'source' | 'churn-server' | 'churn';

export type LoadRequest =
  | { readonly type: 'count' }
  | { readonly type: 'start'; readonly port: number; readonly streams: number; readonly chunkSize: number }
  | { readonly type: 'stop' }
  | {
    readonly type: 'run';
    readonly port: number;
    readonly concurrency: number;
    readonly durationMs: number;
    readonly size: number;
    /** Through a SOCKS5 proxy on `port`: CONNECT to 127.0.0.1:socksTarget first (no auth). */
    readonly socksTarget?: number;
    /** Connect to these ports in turn instead of `port` (one client spreading its connections over listeners). */
    readonly ports?: readonly number[];
  };

export interface ChurnResult {
  readonly connections: number;
  readonly errors: number;
  readonly durationMs: number;
  readonly connPerSec: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export type LoadReply =
  | { readonly type: 'ready'; readonly port: number }
  | { readonly type: 'count'; readonly bytes: number }
  | { readonly type: 'started' }
  | { readonly type: 'stopped' }
  | { readonly type: 'result'; readonly result: ChurnResult }
  | { readonly type: 'error'; readonly message: string };

function reply(message: LoadReply): void {
  process.send?.(message);
}

function listen(server: Server): void {
  server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, function onListening() {
    const address = server.address();
    reply({ type: 'ready', port: typeof address === 'object' && address !== null ? address.port : 0 });
  });
}

function ignoreError(): void {
  // Peers close abruptly when a round ends; that is not a bench failure.
}

// ---- sink: counts every byte it receives ----
let sinkBytes = 0;

function onSinkData(chunk: Buffer): void {
  sinkBytes += chunk.length;
}

function onSinkConnection(socket: Socket): void {
  socket.on('data', onSinkData);
  socket.on('error', ignoreError);
}

function runSink(): void {
  listen(createServer({ noDelay: true }, onSinkConnection));
  process.on('message', function onSinkMessage(message: LoadRequest) {
    if (message.type === 'count') reply({ type: 'count', bytes: sinkBytes });
  });
}

// ---- source: N connections writing the same buffer as fast as the path takes it ----
const sourceSockets: Socket[] = [];
let sourceChunk: Buffer = Buffer.alloc(0);
let sourceStopped = false;

function pumpSource(this: Socket): void {
  while (!sourceStopped && this.write(sourceChunk)) {
    // keep writing until the socket asks us to wait for 'drain'
  }
}

function runSource(): void {
  process.on('message', function onSourceMessage(message: LoadRequest) {
    if (message.type === 'start') {
      sourceChunk = Buffer.alloc(message.chunkSize, 0x61);
      let connected = 0;
      for (let i = 0; i < message.streams; i++) {
        const socket = connect({ host: '127.0.0.1', port: message.port, noDelay: true });
        sourceSockets.push(socket);
        socket.on('error', ignoreError);
        socket.on('drain', pumpSource);
        socket.once('connect', function onSourceConnect(this: Socket) {
          connected++;
          pumpSource.call(this);
          if (connected === message.streams) reply({ type: 'started' });
        });
      }
    } else if (message.type === 'stop') {
      sourceStopped = true;
      for (const socket of sourceSockets) socket.destroy();
      reply({ type: 'stopped' });
    }
  });
}

// ---- churn server: reads a request of `size` bytes, answers `size` bytes, then closes ----
let churnSize = 1024;
let churnResponse: Buffer = Buffer.alloc(0);

function runChurnServer(size: number): void {
  churnSize = size;
  churnResponse = Buffer.alloc(size, 0x62);
  listen(createServer({ noDelay: true }, onChurnServerConnection));
}

function onChurnServerConnection(socket: Socket): void {
  let received = 0;
  socket.on('error', ignoreError);
  socket.on('data', function onChurnRequest(chunk: Buffer) {
    // Answer once: a relay sending a PROXY header first delivers a few bytes more than `size`.
    if (received >= churnSize) return;
    received += chunk.length;
    if (received >= churnSize) socket.end(churnResponse);
  });
}

// ---- churn client: `concurrency` loops of connect, send, receive the full answer, close ----
interface ChurnRun {
  readonly ports: readonly number[];
  /** The connection count so far, for taking the ports in turn. */
  opened: number;
  readonly size: number;
  readonly request: Buffer;
  /** The SOCKS5 CONNECT request to send after the greeting, or null for a direct connection. */
  readonly socksConnect: Buffer | null;
  readonly deadline: number;
  latencies: Float64Array;
  count: number;
  errors: number;
  active: number;
  done: () => void;
}

function recordLatency(run: ChurnRun, ms: number): void {
  if (run.count === run.latencies.length) {
    const grown = new Float64Array(run.latencies.length * 2);
    grown.set(run.latencies);
    run.latencies = grown;
  }
  run.latencies[run.count++] = ms;
}

function churnOnce(run: ChurnRun): void {
  if (performance.now() >= run.deadline) {
    run.active--;
    if (run.active === 0) run.done();
    return;
  }
  const startedAt = performance.now();
  let received = 0;
  let finished = false;
  // SOCKS5: 0 = greeting sent, 1 = CONNECT sent, 2 = relaying; a direct connection starts relaying.
  let socksStage = run.socksConnect === null ? 2 : 0;
  let handshake = 0;
  const port = run.ports[run.opened++ % run.ports.length]!;
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  function finish(ok: boolean): void {
    if (finished) return;
    finished = true;
    if (ok) recordLatency(run, performance.now() - startedAt);
    else run.errors++;
    socket.destroy();
    setImmediate(churnOnce, run);
  }
  socket.once('connect', function onChurnConnect() {
    socket.write(run.socksConnect === null ? run.request : SOCKS_GREETING);
  });
  socket.on('data', function onChurnResponse(chunk: Buffer) {
    if (socksStage === 2) {
      received += chunk.length;
      return;
    }
    // The method reply is 2 bytes, the CONNECT reply 10 (an IPv4 bound address); a reply may share a chunk with data.
    handshake += chunk.length;
    if (socksStage === 0 && handshake >= 2) {
      socksStage = 1;
      handshake -= 2;
      socket.write(run.socksConnect!);
    }
    if (socksStage === 1 && handshake >= 10) {
      socksStage = 2;
      received += handshake - 10;
      socket.write(run.request);
    }
  });
  socket.once('end', function onChurnEnd() {
    finish(received >= run.size);
  });
  socket.once('error', function onChurnError() {
    finish(false);
  });
}

const SOCKS_GREETING = Buffer.from([0x05, 0x01, 0x00]);

function socksConnectTo(port: number): Buffer {
  return Buffer.from([0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, port >> 8, port & 0xff]);
}

function runChurn(): void {
  process.on('message', function onChurnMessage(message: LoadRequest) {
    if (message.type !== 'run') return;
    const startedAt = performance.now();
    const run: ChurnRun = {
      ports: message.ports ?? [message.port],
      opened: 0,
      size: message.size,
      request: Buffer.alloc(message.size, 0x63),
      socksConnect: message.socksTarget === undefined ? null : socksConnectTo(message.socksTarget),
      deadline: startedAt + message.durationMs,
      latencies: new Float64Array(65536),
      count: 0,
      errors: 0,
      active: message.concurrency,
      done: function onChurnDone() {
        const durationMs = performance.now() - startedAt;
        const sorted = Array.from(run.latencies.subarray(0, run.count)).sort(ascending);
        const pick = (p: number): number => (sorted.length === 0 ? 0 : percentileOfSorted(sorted, p));
        reply({
          type: 'result',
          result: {
            connections: run.count,
            errors: run.errors,
            durationMs,
            connPerSec: (run.count * 1000) / durationMs,
            p50: pick(50),
            p90: pick(90),
            p99: pick(99),
            max: sorted.length === 0 ? 0 : (sorted[sorted.length - 1] as number),
          },
        });
      },
    };
    for (let i = 0; i < message.concurrency; i++) churnOnce(run);
  });
}

function main(): void {
  const role = process.argv[2] as LoadRole | undefined;
  process.on('disconnect', function onParentGone() {
    process.exit(0);
  });
  switch (role) {
    case 'sink':
      return runSink();
    case 'source':
      return runSource();
    case 'churn-server':
      return runChurnServer(Number(process.argv[3] ?? 1024));
    case 'churn':
      return runChurn();
    default:
      reply({ type: 'error', message: `unknown load role: ${String(role)}` });
      process.exit(2);
  }
}

main();
