import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { echoServer } from '../fixtures/tcp.js';
import { startCli } from '../helpers/cli.js';
import type { TestServer } from '../helpers/listen.js';
import { connectTo, readAll } from '../helpers/sockets.js';
import { sleep } from '../helpers/wait.js';
import { loadNativeEngine } from '../../src/relay/native/index.js';

/** How long the EMFILE log line may take to show once the connections are open, and the recovery after. */
const LOG_WAIT_MS = 5_000;
const RECOVERY_WAIT_MS = 20_000;

/**
 * Runs tidegate with a tiny fd limit and opens connections until it runs out. Each relay takes two fds (client and
 * target); whether the accept or the dial hits the limit depends on the limit's parity, and libuv drops connections
 * it cannot accept silently, so the dial side is what tidegate can see and log. Returns whether the log appeared.
 */
async function exhaust(
  target: TestServer, fdLimit: number, env: Record<string, string> = { TIDEGATE_RELAY: 'js' },
): Promise<{ logged: boolean; crashed: boolean; targetMarkedDown: boolean; recovered: boolean }> {
  // Port 0: the forward binds whatever the kernel gives it and logs it, so no probe can lose the port meanwhile.
  const tg = startCli(
    ['start', '--forward', `127.0.0.1:0=${target.address}`],
    { ...env, TIDEGATE_ADMIN_LISTEN: 'off' }, { fdLimit },
  );
  const crashed = (): boolean => tg.exit !== null && tg.exit.signal !== 'SIGTERM' && tg.exit.code !== 0;
  const held: Socket[] = [];
  try {
    await tg.waitForListening(['forward-1'], 10_000);
    const port = tg.port('forward-1');
    for (let i = 0; i < 100 && !tg.output().includes('out of file descriptors'); i++) {
      const s = await connectTo(port).catch(() => null);
      if (s) {
        s.on('error', () => undefined);
        held.push(s);
      }
      await sleep(5);
    }
    // The log line comes from another process: wait for it (a limit of the wrong parity never writes it).
    const logged = await tg.waitFor('out of file descriptors', LOG_WAIT_MS).then(() => true, () => false);
    for (const s of held) s.destroy();
    // Until a relay works again: the freed fds come back as tidegate sees the held connections close.
    let recovered = false;
    const deadline = Date.now() + RECOVERY_WAIT_MS;
    while (!recovered && Date.now() < deadline) {
      const c = await connectTo(port).catch(() => null);
      if (c === null) {
        await sleep(100);
        continue;
      }
      c.on('error', () => undefined);
      const echoed = readAll(c).catch(() => Buffer.alloc(0));
      c.end('back');
      recovered = (await echoed).toString() === 'back';
      if (!recovered) await sleep(100);
    }
    return { logged, crashed: crashed(), targetMarkedDown: tg.output().includes('target failed'), recovered };
  } finally {
    for (const s of held) s.destroy();
    tg.child.kill('SIGTERM');
    await tg.exited;
  }
}

const NATIVE_ACCEPT = { TIDEGATE_RELAY: 'native', TIDEGATE_NATIVE_ACCEPT: '1' };

describe('out of file descriptors', () => {
  it('EMFILE is logged and pauses accepting, never crashes or blames the target, '
    + 'and the service recovers', async () => {
    const target = await echoServer();
    try {
      // Start-up must fit first: the ESM loader opens module files concurrently (over 80 fds for today's graph), so
      // the limit leaves room for the graph to grow; up to 100 relays of two fds each still run it out.
      let result = await exhaust(target, 128);
      if (!result.logged) result = await exhaust(target, 129);
      assert.equal(result.crashed, false, 'tidegate must not crash');
      assert.equal(result.logged, true, 'running out of fds on a dial is logged');
      assert.equal(result.targetMarkedDown, false, 'EMFILE is not the target\'s fault');
      assert.equal(result.recovered, true, 'new connections are relayed once fds are free again');
    } finally {
      await target.close();
    }
  });

  it('the same where the native addon accepts: its listener rests, nothing crashes, the service recovers',
    { skip: !loadNativeEngine().ok }, async () => {
      const target = await echoServer();
      try {
        // The addon accepts (and dials): accept4 or the target's socket() hits the limit, both on its thread.
        let result = await exhaust(target, 128, NATIVE_ACCEPT);
        if (!result.logged) result = await exhaust(target, 129, NATIVE_ACCEPT);
        assert.equal(result.crashed, false, 'tidegate must not crash');
        assert.equal(result.logged, true, 'running out of fds is logged');
        assert.equal(result.targetMarkedDown, false, 'EMFILE is not the target\'s fault');
        assert.equal(result.recovered, true, 'new connections are relayed once fds are free again');
      } finally {
        await target.close();
      }
    });
});
