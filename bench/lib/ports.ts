import { createServer, connect } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it; we close and hand it out). */
export function freePort(): Promise<number> {
  return new Promise(function findFreePort(resolve, reject) {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', function onListening() {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(function onClosed() {
        resolve(port);
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
