import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { echoServer } from '../fixtures/tcp.js';
import { freePort } from '../helpers/listen.js';
import { connectTo, readAll } from '../helpers/sockets.js';
import { loadNativeEngine } from '../../src/relay/native/index.js';

/**
 * Workers share a listener through node:cluster. With the default round-robin scheduling the primary accepts and
 * passes each connection to a worker, whose server has a handle without an fd: the native engine declines to accept
 * there (`RelayEngine.listen` returns null) and the worker's service keeps Node's path. Checked with real workers.
 */
const probe = loadNativeEngine();
if (probe.ok) void probe.engine.shutdown();

describe('native accept under node:cluster', { skip: !probe.ok }, () => {
  it('round-robin workers keep Node accepting, and relay exactly', async () => {
    const echo = await echoServer();
    const port = await freePort();
    cluster.setupPrimary({
      exec: fileURLToPath(new URL('./accept-worker.js', import.meta.url)),
      silent: false,
    });
    const env = { ACCEPT_TEST_PORT: String(port), ACCEPT_TEST_TARGET: echo.address };
    const workers: Worker[] = [cluster.fork(env), cluster.fork(env)];
    try {
      const reports = await Promise.all(workers.map(async (w) => (await once(w, 'message'))[0] as {
        kind: string; listeners: number; holder: string;
      }));
      for (const report of reports) assert.deepEqual(report, { kind: 'native', listeners: 0, holder: 'cluster' });
      for (let i = 0; i < 20; i++) {
        const payload = randomBytes(1024 + i);
        const socket = await connectTo(port);
        const back = readAll(socket);
        socket.end(payload);
        assert.ok((await back).equals(payload), `connection ${i} relayed exactly`);
      }
    } finally {
      await Promise.all(workers.map(async (w) => {
        const exited = once(w, 'exit');
        w.send('stop');
        await exited;
      }));
      await echo.close();
    }
  });
});
