import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { CLI } from '../helpers/cli.js';
import { connectTo, echoServer, eventually, listen, readAll, sleep, type TestServer } from '../helpers/servers.js';

/**
 * Runs tidegate with a tiny fd limit and opens connections until it runs out. Each relay takes two fds (client and
 * target); whether the accept or the dial hits the limit depends on the limit's parity, and libuv drops connections
 * it cannot accept silently, so the dial side is what tidegate can see and log. Returns whether the log appeared.
 */
async function exhaust(target: TestServer, fdLimit: number): Promise<{ logged: boolean; crashed: boolean; targetMarkedDown: boolean; recovered: boolean }> {
  const probe = await listen(() => undefined);
  const port = probe.port;
  await probe.close();
  const child = spawn('bash', ['-c', `ulimit -n ${fdLimit} && exec "${process.execPath}" "${CLI}" start --forward 127.0.0.1:${port}=${target.address}`], {
    env: { ...process.env, TIDEGATE_RELAY: 'js', TIDEGATE_ADMIN_LISTEN: 'off' },
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c));
  child.stderr.on('data', (c: Buffer) => (output += c));
  let crashed = false;
  child.on('exit', (code, signal) => (crashed = signal !== 'SIGTERM' && code !== 0));
  const held: Socket[] = [];
  try {
    await eventually(() => output.includes('service listening'), 10_000, 'tidegate to listen');
    for (let i = 0; i < 60 && !output.includes('out of file descriptors'); i++) {
      const s = await connectTo(port).catch(() => null);
      if (s) {
        s.on('error', () => undefined);
        held.push(s);
      }
      await sleep(5);
    }
    await sleep(200);
    const logged = output.includes('out of file descriptors');
    for (const s of held) s.destroy();
    await sleep(700);
    let recovered = false;
    for (let attempt = 0; attempt < 50 && !recovered; attempt++) {
      const c = await connectTo(port).catch(() => null);
      if (!c) continue;
      c.on('error', () => undefined);
      const echoed = readAll(c).catch(() => Buffer.alloc(0));
      c.end('back');
      recovered = (await echoed).toString() === 'back';
      if (!recovered) await sleep(100);
    }
    return { logged, crashed, targetMarkedDown: output.includes('target failed'), recovered };
  } finally {
    for (const s of held) s.destroy();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('close', r));
  }
}

describe('out of file descriptors', () => {
  it('EMFILE is logged and pauses accepting, never crashes or blames the target, and the service recovers', async () => {
    const target = await echoServer();
    try {
      let result = await exhaust(target, 60);
      if (!result.logged) result = await exhaust(target, 61);
      assert.equal(result.crashed, false, 'tidegate must not crash');
      assert.equal(result.logged, true, 'running out of fds on a dial is logged');
      assert.equal(result.targetMarkedDown, false, 'EMFILE is not the target\'s fault');
      assert.equal(result.recovered, true, 'new connections are relayed once fds are free again');
    } finally {
      await target.close();
    }
  });
});
