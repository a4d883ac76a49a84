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
 * node:cluster's shared-socket mode (`SCHED_NONE`, frozen per primary process, hence a file of its own): every worker
 * gets the primary's listening socket with its fd, but the primary closes it once every worker closed its server and
 * binds anew for the next one. Had a worker's addon kept a copy after Node's server closed, the second worker's bind
 * would fail with EADDRINUSE; the workers keep Node accepting. Checked with real workers (accept-worker.ts).
 */
const probe = loadNativeEngine();
if (probe.ok) void probe.engine.shutdown();

describe('native accept under node:cluster SCHED_NONE', { skip: !probe.ok }, () => {
  it('both workers listen on the primary\'s socket with Node accepting, and relay exactly', async () => {
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    const echo = await echoServer();
    const port = await freePort();
    cluster.setupPrimary({ exec: fileURLToPath(new URL('./accept-worker.js', import.meta.url)), silent: false });
    const env = { ACCEPT_TEST_PORT: String(port), ACCEPT_TEST_TARGET: echo.address };
    const workers: Worker[] = [cluster.fork(env)];
    try {
      // One after the other: the second binds through the primary after the first has settled its listener.
      const first = (await once(workers[0]!, 'message'))[0] as unknown;
      workers.push(cluster.fork(env));
      const second = (await once(workers[1]!, 'message'))[0] as unknown;
      for (const report of [first, second]) {
        assert.deepEqual(report, { kind: 'native', listeners: 0, holder: 'cluster' });
      }
      await echoesExactly(port, 20);
    } finally {
      await stopWorkers(workers);
      await echo.close();
    }
  });
});
