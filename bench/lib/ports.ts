import { readFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';

/** Where ports are handed out from when the kernel's ephemeral range leaves no room below it. */
const LOWEST_PORT = 10_000;
/** How many taken ports a pick steps over before it gives up. */
const PICK_ATTEMPTS = 200;

let ephemeralRange: Promise<readonly [number, number]> | undefined;
/**
 * Every port this process handed out. A port is handed out once: the process it was meant for may not have bound it
 * yet (or is meant never to, a port nothing listens on), so the probe alone would find it free and give it again.
 */
const handedOut = new Set<number>();

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, for a process that binds it itself (or a port nothing
 * listens on). It comes from below the kernel's ephemeral range: a port from inside that range can be taken as
 * the local port of an outgoing connection (the churn benches open thousands a second) between this probe and the
 * other process's bind, which then fails with EADDRINUSE (and a connection to a port nothing listens on inside that
 * range can get that very port as its own local port and connect to itself). No port is handed out twice.
 */
export async function freePort(): Promise<number> {
  return freePortRange(1);
}

/**
 * The first of `count` consecutive ports that `freePort` would hand out (all free a moment ago, all below the
 * ephemeral range, none handed out before, none handed out after): for `admin.portRange` and users' `ports`.
 */
export async function freePortRange(count: number): Promise<number> {
  const [low] = await (ephemeralRange ??= readEphemeralRange());
  const room = low - LOWEST_PORT - count;
  if (room >= 1000) {
    for (let attempt = 0; attempt < PICK_ATTEMPTS; attempt++) {
      const first = LOWEST_PORT + Math.floor(Math.random() * room);
      if (await allFree(first, count)) return handOut(first, count);
    }
  }
  if (count !== 1) throw new Error(`no run of ${count} free ports below the ephemeral range (from ${low})`);
  for (let attempt = 0; attempt < PICK_ATTEMPTS; attempt++) {
    const port = await probe(0);
    if (!handedOut.has(port)) return handOut(port, 1);
  }
  throw new Error('the kernel keeps picking ports this process already handed out');
}

function handOut(first: number, count: number): number {
  for (let port = first; port < first + count; port++) handedOut.add(port);
  return first;
}

async function allFree(first: number, count: number): Promise<boolean> {
  for (let port = first; port < first + count; port++) if (handedOut.has(port)) return false;
  for (let port = first; port < first + count; port++) {
    if ((await probe(port).catch(takenPort)) === 0) return false;
  }
  return true;
}

async function readEphemeralRange(): Promise<readonly [number, number]> {
  try {
    const text = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
    const [low, high] = text.trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && low > 0 && high >= low) return [low, high];
  } catch {
    // not Linux: fall through to the IANA range other kernels use
  }
  return [49152, 65535];
}

function takenPort(error: NodeJS.ErrnoException): number {
  if (error.code === 'EADDRINUSE' || error.code === 'EACCES') return 0;
  throw error;
}

/** Binds 127.0.0.1:port (0: the kernel picks), closes it and resolves with the port that was bound. */
function probe(port: number): Promise<number> {
  return new Promise(function bindAndRelease(resolve, reject) {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', function onListening() {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(function onClosed() {
        resolve(bound);
      });
    });
  });
}

/** Resolves once a TCP connection to 127.0.0.1:port succeeds; rejects after timeoutMs. */
export async function waitForPort(port: number, timeoutMs = 10_000, stillAlive?: () => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    stillAlive?.();
    const ok = await tryConnect(port);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise(function attempt(resolve) {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', function onConnect() {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', function onError() {
      socket.destroy();
      resolve(false);
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise(function wait(resolve) {
    setTimeout(resolve, ms);
  });
}
