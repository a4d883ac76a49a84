import assert from 'node:assert/strict';
import { createServer, Socket, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { listenService, setListenHook } from '../../src/listen/listen.js';
import { openReusePort, reusePortCalls } from '../../src/listen/reuseport.js';
import { WorkerListeners } from '../../src/cluster/worker-listeners.js';
import { connectTo, readAll } from '../helpers/sockets.js';

const calls = reusePortCalls();

function serve(server: Server, fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(new Socket({ fd, readable: false, writable: false }), 511, () => resolve());
  });
}

/** One connection's whole answer (the client closes its side too: it is half-open by default here). */
async function ask(port: number): Promise<string> {
  const socket = await connectTo(port);
  socket.end();
  const answer = (await readAll(socket)).toString();
  socket.destroy();
  return answer;
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('native listen sockets (SO_REUSEPORT)', { skip: calls === null }, () => {
  it('port 0 gets a port; a second socket binds the same port; both accept', async () => {
    const first = openReusePort(calls!, '127.0.0.1', 0, 511);
    assert.ok('fd' in first, String(first));
    assert.ok(first.port > 0);
    const second = openReusePort(calls!, '127.0.0.1', first.port, 511);
    assert.ok('fd' in second, String(second));
    assert.equal(second.port, first.port);
    const seen = [0, 0];
    const servers = [0, 1].map((i) => createServer((s) => {
      seen[i]!++;
      s.end('x');
    }));
    await serve(servers[0]!, first.fd);
    await serve(servers[1]!, second.fd);
    for (let i = 0; i < 64 && (seen[0] === 0 || seen[1] === 0); i++) {
      assert.equal(await ask(first.port), 'x');
    }
    assert.ok(seen[0]! > 0 && seen[1]! > 0, `the kernel spread connections over both: ${seen.join()}`);
    await Promise.all(servers.map(close));
  });

  it('a port a plain listener holds: EADDRINUSE shaped like net\'s listen error', async () => {
    const plain = createServer();
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const port = (plain.address() as { port: number }).port;
    const r = openReusePort(calls!, '127.0.0.1', port, 511);
    assert.ok(!('fd' in r));
    assert.equal(r.code, 'EADDRINUSE');
    assert.equal(r.syscall, 'listen');
    assert.match(r.message, new RegExp(`^listen EADDRINUSE: .* 127\\.0\\.0\\.1:${port}$`));
    await close(plain);
  });

  it('a copy (dupFd) keeps the socket listening after the first holder closes: its queue is not lost', async () => {
    const opened = openReusePort(calls!, '127.0.0.1', 0, 511);
    assert.ok('fd' in opened);
    const copy = calls!.dupFd(opened.fd);
    assert.ok(copy >= 0);
    const old = createServer((s) => s.end('old'));
    await serve(old, opened.fd);
    // Queued before anyone else listens, accepted by the replacement after the old holder closed.
    const queued = await connectTo(opened.port);
    old.close();
    const replacement = createServer((s) => s.end('new'));
    await serve(replacement, copy);
    queued.end();
    const answer = (await readAll(queued)).toString();
    queued.destroy();
    assert.ok(answer === 'old' || answer === 'new');
    assert.equal(await ask(opened.port), 'new');
    await close(replacement);
  });

  it('a worker\'s hook binds a service it holds no socket for with SO_REUSEPORT of its own', async () => {
    const listeners = new WorkerListeners(calls!);
    setListenHook(listeners);
    try {
      const a = createServer((s) => s.end('a'));
      await new Promise<void>((resolve, reject) => {
        a.once('error', reject);
        a.once('listening', resolve);
        listenService(a, 'svc', '127.0.0.1', 0, 511);
      });
      const port = (a.address() as { port: number }).port;
      // A second worker of the same fleet could bind the same port: the socket has SO_REUSEPORT.
      const b = createServer((s) => s.end('b'));
      await new Promise<void>((resolve, reject) => {
        b.once('error', reject);
        b.once('listening', resolve);
        listenService(b, 'svc', '127.0.0.1', port, 511);
      });
      assert.equal((b.address() as { port: number }).port, port);
      await Promise.all([close(a), close(b)]);
    } finally {
      setListenHook(null);
      listeners.closeAll();
    }
  });
});
