import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { ShuttingDownError } from '../../src/errors.js';
import { newEngine, skipNative, startFront } from './harness.js';
import { connectTo } from '../helpers/sockets.js';
import { listen } from '../helpers/listen.js';

const child = fileURLToPath(new URL('./shutdown-child.js', import.meta.url));

function runChild(mode: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    // The test fails if the child does not exit by itself; this only stops a hung child from outliving the run.
    const guard = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    proc.on('error', reject);
    proc.on('exit', (code) => {
      clearTimeout(guard);
      resolve({ code, stdout });
    });
  });
}

describe('native relay: shutdown', { skip: skipNative, timeout: 60_000 }, () => {
  it('closes live relays with reason shutdown, joins the thread, and the process exits by itself', async () => {
    const { code, stdout } = await runChild('shutdown');
    assert.equal(code, 0);
    assert.match(stdout, /closed 3 shutdown/);
    assert.match(stdout, /exiting/);
  });

  it('an engine whose relays all ended does not keep the process alive, even without shutdown()', async () => {
    const { code, stdout } = await runChild('idle');
    assert.equal(code, 0);
    assert.match(stdout, /closed 1 done/);
  });

  it('refuses new relays and limits after shutdown', async () => {
    const engine = newEngine();
    await engine.shutdown();
    await engine.shutdown(); // idempotent
    const target = await listen((s) => s.resume());
    const front = await startFront(engine, target.port);
    const a = await connectTo(target.port);
    const b = await connectTo(target.port);
    assert.throws(
      () => engine.start(a, b, { idleTimeoutMs: 0, halfCloseTimeoutMs: 0, rateLimit: null }, () => {}),
      ShuttingDownError,
    );
    assert.throws(() => engine.createRateLimit(1, 1), ShuttingDownError);
    a.destroy();
    b.destroy();
    await Promise.all([front.server.close(), target.close()]);
  });
});
