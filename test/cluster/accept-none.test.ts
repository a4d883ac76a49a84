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
 * node:cluster's shared-socket mode (`SCHED_NONE`, frozen per primary process, hence a file of its own): every worker
 * gets the primary's listening socket with its fd, so the native engine accepts on it, as a socket other processes
 * hold too (a stopping worker leaves its queue to them). Checked with real workers (accept-worker.ts).
 */
const probe = loadNativeEngine();
if (probe.ok) void probe.engine.shutdown();
/** `TIDEGATE_NATIVE_ACCEPT=0` (inherited by the workers) keeps Node accepting there too. */
const listeners = process.env.TIDEGATE_NATIVE_ACCEPT === '0' ? 0 : 1;

describe('native accept under node:cluster SCHED_NONE', { skip: !probe.ok }, () => {
  it('each worker\'s addon accepts on the shared socket, as shared, and relays exactly', async () => {
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    const echo = await echoServer();
    const port = await freePort();
    cluster.setupPrimary({ exec: fileURLToPath(new URL('./accept-worker.js', import.meta.url)), silent: false });
    const env = { ACCEPT_TEST_PORT: String(port), ACCEPT_TEST_TARGET: echo.address };
    const workers: Worker[] = [cluster.fork(env), cluster.fork(env)];
    try {
      const reports = await Promise.all(workers.map(async (w) => (await once(w, 'message'))[0] as unknown));
      for (const report of reports) assert.deepEqual(report, { kind: 'native', listeners, shared: true });
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
