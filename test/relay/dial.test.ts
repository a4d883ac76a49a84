import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { DialAttempt, type DialListener } from '../../src/relay/dial.js';
import { ConnectTimeoutError } from '../../src/errors.js';
import { blackhole } from '../fixtures/blackhole.js';
import { echoServer } from '../fixtures/tcp.js';
import { freePort } from '../helpers/listen.js';

/** Records every outcome a DialAttempt reports. */
class Outcomes implements DialListener {
  readonly dialedSockets: Socket[] = [];
  readonly errors: Error[] = [];
  dialed(_attempt: DialAttempt, socket: Socket): void {
    this.dialedSockets.push(socket);
  }
  dialFailed(_attempt: DialAttempt, err: Error): void {
    this.errors.push(err);
  }
}

const OPTIONS = { timeoutMs: 300, noDelay: true, keepAliveMs: 60_000 };

function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

describe('DialAttempt (the forward service dial)', () => {
  it('reports a connected socket exactly once, with no listeners of its own left on it', async () => {
    const server = await echoServer();
    const outcomes = new Outcomes();
    try {
      const attempt = new DialAttempt(hostPort(server.address), OPTIONS, outcomes);
      await once(attempt.socket, 'connect');
      assert.equal(outcomes.dialedSockets.length, 1);
      assert.equal(outcomes.dialedSockets[0], attempt.socket);
      assert.equal(outcomes.errors.length, 0);
      assert.equal(attempt.socket.listenerCount('connect'), 0);
      assert.equal(attempt.socket.listenerCount('error'), 0);
      attempt.cancel(); // after the outcome: a no-op
      assert.equal(attempt.socket.destroyed, false);
      attempt.socket.destroy();
    } finally {
      await server.close();
    }
  });

  it('fails with ConnectTimeoutError after timeoutMs and destroys the socket', async () => {
    const hole = await blackhole();
    const outcomes = new Outcomes();
    try {
      const started = Date.now();
      const attempt = new DialAttempt({ host: '127.0.0.1', port: hole.port }, OPTIONS, outcomes);
      while (outcomes.errors.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.ok(Date.now() - started >= 250);
      assert.ok(outcomes.errors[0] instanceof ConnectTimeoutError);
      assert.equal(outcomes.dialedSockets.length, 0);
      assert.equal(attempt.socket.destroyed, true);
    } finally {
      hole.close();
    }
  });

  it('reports a refused connect as the socket error', async () => {
    // Nothing listens there; below the ephemeral range, so the connect cannot get that port as its own.
    const address = { host: '127.0.0.1', port: await freePort() };
    const outcomes = new Outcomes();
    new DialAttempt(address, OPTIONS, outcomes);
    while (outcomes.errors.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal((outcomes.errors[0] as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    assert.equal(outcomes.errors.length, 1);
  });

  it('cancel() destroys the socket and reports nothing, not even the timeout', async () => {
    const hole = await blackhole();
    const outcomes = new Outcomes();
    try {
      const attempt = new DialAttempt({ host: '127.0.0.1', port: hole.port }, { ...OPTIONS, timeoutMs: 100 }, outcomes);
      attempt.cancel();
      assert.equal(attempt.socket.destroyed, true);
      await new Promise((resolve) => setTimeout(resolve, 250));
      assert.equal(outcomes.errors.length + outcomes.dialedSockets.length, 0);
    } finally {
      hole.close();
    }
  });
});
