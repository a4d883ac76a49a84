import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { Logger } from '../../src/log.js';
import { guardConnection, guardRequest } from '../../src/guard/entry.js';
import { rawExchange } from '../helpers/raw-http.js';
import { echoServer } from '../fixtures/tcp.js';
import { connectTo, readAll, readBytes } from '../helpers/sockets.js';
import { eventually } from '../helpers/wait.js';

function capturedLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString())); done(); } });
  return { log: pino({ level: 'info' }, sink) as unknown as Logger, lines };
}

describe('last-resort guard', () => {
  it('a connection handler that throws loses its own connection, logged with the service name; '
    + 'the next is served', async () => {
    const { log, lines } = capturedLogger();
    let n = 0;
    const server = createServer(guardConnection('fwd-under-test', log, function onConnection(socket: Socket) {
      if (n++ === 0) throw Object.assign(new Error('injected'), { config: { token: 'sk-hidden' } });
      socket.pipe(socket);
    }));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    try {
      const first = await connectTo(port);
      first.end();
      assert.equal((await readAll(first)).length, 0);
      const second = await connectTo(port);
      second.write('pong');
      assert.equal((await readBytes(second, 4)).toString(), 'pong');
      second.destroy();
      await eventually(() => lines.length > 0);
      const line = lines[0]! as { service: string; error: { type: string; message: string } };
      assert.equal(line.service, 'fwd-under-test');
      assert.equal(line.error.message, 'injected');
      assert.equal(line.error.type, 'Error');
      assert.doesNotMatch(JSON.stringify(lines), /sk-hidden/);
    } finally {
      server.close();
    }
  });

  it('a request handler that throws answers a bare 500 and the next request is served', async () => {
    const { log, lines } = capturedLogger();
    const server = createHttpServer(guardRequest('gw-under-test', log, function onRequest(req, res) {
      if (req.url === '/boom') {
        res.setHeader('x-partial', 'yes');
        throw new Error('upstream key sk-abc in a message');
      }
      res.end('fine');
    }));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    try {
      const boom = await rawExchange(port, 'GET /boom HTTP/1.1\r\nhost: x\r\n\r\n');
      assert.equal(boom.status, 500);
      assert.deepEqual(JSON.parse(boom.body), { error: { code: 'TG_ERR_INTERNAL', message: 'internal error' } });
      assert.doesNotMatch(boom.head, /x-partial/);
      const fine = await rawExchange(port, 'GET /ok HTTP/1.1\r\nhost: x\r\n\r\n');
      assert.equal(fine.status, 200);
      assert.equal((lines[0] as { service: string }).service, 'gw-under-test');
    } finally {
      server.close();
    }
  });

  it('tidegate keeps relaying after an uncaught exception and an unhandled rejection, '
    + 'and logs them without secrets', async () => {
    const target = await echoServer();
    const childScript = fileURLToPath(new URL('./process-guard-child.js', import.meta.url));
    const child = spawn(process.execPath, [childScript, target.address], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await eventually(() => /READY /.test(out), 20_000, 'child ready');
      const port = Number(/READY [^\n]*:(\d+)/.exec(out)![1]);
      child.stdin.write('throw\n');
      await eventually(() => out.includes('uncaught exception'), 10_000, 'uncaught exception logged');
      child.stdin.write('reject\n');
      await eventually(() => out.includes('unhandled promise rejection'), 10_000, 'rejection logged');
      assert.equal(child.exitCode, null);
      const client = await connectTo(port);
      client.write('still here');
      assert.equal((await readBytes(client, 10)).toString(), 'still here');
      client.destroy();
      assert.match(out, /escaped on purpose/);
      assert.doesNotMatch(out, /sk-secret-1/);
      child.stdin.write('stop\n');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await target.close();
    }
  });
});
