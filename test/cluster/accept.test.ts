import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { echoServer } from '../fixtures/tcp.js';
import { freePort } from '../helpers/listen.js';
import { loadNativeEngine } from '../../src/relay/native/index.js';
import { echoesExactly, stopWorkers } from './accept-rig.js';

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
      await echoesExactly(port, 20);
    } finally {
      await stopWorkers(workers);
      await echo.close();
    }
  });
});
