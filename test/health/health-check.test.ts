import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { HealthCheck } from '../../src/health/health-check.js';
import { RiseFall } from '../../src/health/rise-fall.js';
import { probeTcp } from '../../src/health/tcp-probe.js';

function serve(port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((s) => s.end());
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('RiseFall', () => {
  it('goes down after `fall` consecutive failures and up after `rise` successes; a contrary check resets', () => {
    const s = new RiseFall(2, 3);
    assert.equal(s.up, true);
    assert.equal(s.record(false), false);
    assert.equal(s.record(false), false);
    assert.equal(s.record(true), false, 'a good check resets the fall streak');
    assert.equal(s.streak, 0);
    assert.deepEqual([s.record(false), s.record(false), s.record(false)], [false, false, true]);
    assert.equal(s.up, false);
    assert.deepEqual([s.record(true), s.record(false), s.record(true)], [false, false, false]);
    assert.equal(s.record(true), true);
    assert.equal(s.up, true);
  });
});

describe('HealthCheck', () => {
  it('probes a real TCP server: down after fall, back up after rise, listener told of each flip', async () => {
    const server = await serve();
    const port = (server.address() as { port: number }).port;
    const flips: boolean[] = [];
    const check = new HealthCheck(
      'upstream', 'x', `127.0.0.1:${port}`, { intervalMs: 0, timeoutMs: 2_000, rise: 2, fall: 2 },
      (signal) => probeTcp('127.0.0.1', port, signal),
      (_c, up) => flips.push(up),
    );
    assert.equal(await check.checkNow(), true);
    await close(server);
    assert.equal(await check.checkNow(), true, 'one failure is not yet `fall`');
    assert.equal(await check.checkNow(), false);
    assert.match(check.lastError ?? '', /ECONNREFUSED/);
    const again = await serve(port);
    assert.equal(await check.checkNow(), false, 'one success is not yet `rise`');
    assert.equal(await check.checkNow(), true);
    assert.deepEqual(flips, [false, true]);
    const snap = check.snapshot();
    assert.equal(snap.checks, 5);
    assert.equal(snap.failedChecks, 2);
    assert.equal(snap.downs, 1);
    assert.equal(snap.probed, false);
    await close(again);
  });

  it('a probe that hangs fails at its timeout; traffic failures count toward fall', async () => {
    const check = new HealthCheck(
      'upstream', 'slow', 'nowhere', { intervalMs: 60_000, timeoutMs: 50, rise: 1, fall: 2 },
      (signal) => new Promise<void>((_resolve, reject) => {
        signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      }),
    );
    assert.equal(await check.checkNow(), true);
    assert.equal(check.lastError, 'health check timed out');
    check.observe(false, new Error('connect ECONNREFUSED'));
    assert.equal(check.up, false, 'a probe failure and a traffic failure make `fall`');
    check.observe(true);
    assert.equal(check.up, false, 'with probes, only probes bring it back');
  });

  it('without probes, traffic alone marks it down and up', () => {
    const check = new HealthCheck(
      'upstream', 'p', 'x', { intervalMs: 0, timeoutMs: 0, rise: 2, fall: 3 }, () => Promise.resolve(),
    );
    check.observe(false, new Error('refused'));
    assert.equal(check.up, false);
    check.observe(true);
    assert.equal(check.up, true);
  });
});
