import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { AdminServer, type AdminRoute } from '../../src/admin/server.js';
import { createLogger } from '../../src/log.js';
import { errorCode, rawExchange } from '../helpers/raw-http.js';
import { echoServer } from '../fixtures/tcp.js';
import { type TestServer } from '../helpers/listen.js';
import { connectTo, readBytes } from '../helpers/sockets.js';
import { type Running, startTidegate } from '../helpers/tidegate.js';

const TOKEN = 'admin-sekret-token';
const AUTH = `authorization: Bearer ${TOKEN}\r\n`;

function get(path: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nhost: x\r\n${AUTH}${extra}\r\n`;
}

describe('admin API dispatch is total', () => {
  let target: TestServer;
  let tg: Running;
  let port: number;

  before(async () => {
    target = await echoServer();
    tg = await startTidegate({
      admin: { listen: '127.0.0.1:0', token: TOKEN },
      users: [{ id: 'alice' }],
      services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
    });
    port = Number(tg.runtime.adminAddress()!.split(':').pop());
  });
  after(async () => {
    await tg.stop();
    await target.close();
  });

  async function stillServing(): Promise<void> {
    const status = await rawExchange(port, get('/status'));
    assert.equal(status.status, 200);
    const client = await connectTo(tg.port('fwd'));
    client.write('ping');
    assert.equal((await readBytes(client, 4)).toString(), 'ping');
    client.destroy();
  }

  it('answers a malformed percent-escape with 400 TG_ERR_BAD_REQUEST instead of dying (the URIError)', async () => {
    for (const path of [
      '/users/%E0%A4%A/usage', '/users/%/usage', '/users/%ZZ/usage', '/users/%C0%80/usage', '/users/%ED%A0%80/usage',
    ]) {
      const answer = await rawExchange(port, get(path));
      assert.equal(answer.status, 400, path);
      assert.equal(errorCode(answer), 'TG_ERR_BAD_REQUEST', path);
    }
    const known = await rawExchange(port, get('/users/%61lice/usage'));
    assert.equal(known.status, 200);
    const unknown = await rawExchange(port, get('/users/%E2%9C%93/usage'));
    assert.equal(unknown.status, 404);
    assert.equal(errorCode(unknown), 'TG_ERR_NOT_FOUND');
    await stillServing();
  });

  it('answers wrong methods with 405 and an Allow header, unknown ones with 400', async () => {
    for (const [method, path, allow] of [
      ['HEAD', '/status', 'GET'], ['PUT', '/reload', 'POST'], ['DELETE', '/users/alice/usage', 'GET'],
      ['POST', '/metrics', 'GET'], ['OPTIONS', '/sync', 'GET'],
    ] as const) {
      const answer = await rawExchange(port, `${method} ${path} HTTP/1.1\r\nhost: x\r\n${AUTH}\r\n`);
      assert.equal(answer.status, 405, `${method} ${path}`);
      assert.match(answer.head, new RegExp(`\\r\\nallow: ${allow}`, 'i'));
      if (method !== 'HEAD') assert.equal(errorCode(answer), 'TG_ERR_METHOD');
    }
    for (const line of ['FOO /status HTTP/1.1', 'G\u0000T /status HTTP/1.1', 'GET /status HTTP/9.9', 'GET  HTTP/1.1']) {
      const answer = await rawExchange(port, `${line}\r\nhost: x\r\n${AUTH}\r\n`);
      assert.equal(answer.status, 400, JSON.stringify(line));
      assert.equal(errorCode(answer), 'TG_ERR_BAD_REQUEST', JSON.stringify(line));
      assert.match(answer.head, /\r\nconnection: close/i);
    }
    await stillServing();
  });

  it('answers absurd paths and header oddities with JSON errors', async () => {
    const cases: [string, number, string][] = [
      [get('*'), 400, 'TG_ERR_BAD_REQUEST'],
      [get('http://127.0.0.1/status'), 400, 'TG_ERR_BAD_REQUEST'],
      [get('/status/../status'), 404, 'TG_ERR_NOT_FOUND'],
      [get('//status'), 404, 'TG_ERR_NOT_FOUND'],
      [get(`/${'a/'.repeat(3_000)}`), 404, 'TG_ERR_NOT_FOUND'],
      [get(`/${'x'.repeat(20_000)}`), 431, 'TG_ERR_BAD_REQUEST'],
      [get('/status', `x-big: ${'y'.repeat(20_000)}\r\n`), 431, 'TG_ERR_BAD_REQUEST'],
      [get('/status', 'bad header line\r\n'), 400, 'TG_ERR_BAD_REQUEST'],
      [get('/status', 'x-nul: a\u0000b\r\n'), 400, 'TG_ERR_BAD_REQUEST'],
      [get('/status', 'content-length: 1\r\ncontent-length: 2\r\n'), 400, 'TG_ERR_BAD_REQUEST'],
      [get('/status', 'transfer-encoding: chunked\r\ncontent-length: 3\r\n'), 400, 'TG_ERR_BAD_REQUEST'],
      [`GET /status HTTP/1.1\r\nhost: x\r\nauthorization: Bearer \u00ff\u00fe\r\n\r\n`, 401, 'TG_ERR_UNAUTHORIZED'],
      [`GET /status HTTP/1.1\r\nhost: x\r\nauthorization: ${'B'.repeat(8_000)}\r\n\r\n`, 401, 'TG_ERR_UNAUTHORIZED'],
    ];
    for (const [request, status, code] of cases) {
      const answer = await rawExchange(port, request);
      assert.equal(answer.status, status, request.slice(0, 80));
      assert.equal(errorCode(answer), code, request.slice(0, 80));
    }
    await stillServing();
  });

  it('drains a small body, refuses a large one with 413 and closes', async () => {
    const small = await rawExchange(port, get('/status', 'content-length: 5\r\n').replace(/\r\n$/, '\r\nhello'));
    assert.equal(small.status, 200);
    const chunked = await rawExchange(
      port, get('/status', 'transfer-encoding: chunked\r\n') + '5\r\nhello\r\n0\r\n\r\n',
    );
    assert.equal(chunked.status, 200);
    const declared = await rawExchange(port, get('/status', `content-length: ${10 * 1024 * 1024}\r\n`));
    assert.equal(declared.status, 413);
    assert.equal(errorCode(declared), 'TG_ERR_ADMIN_BODY_TOO_LARGE');
    // A chunked body that never ends past the drain cap: the connection is cut, the server lives on.
    const big = Buffer.alloc(200 * 1024, 0x61);
    const streamed = await connectTo(port);
    streamed.on('data', () => undefined);
    streamed.write(Buffer.concat([
      Buffer.from(get('/status', 'transfer-encoding: chunked\r\n')), Buffer.from(`${big.length.toString(16)}\r\n`), big,
    ]));
    await once(streamed, 'end');
    streamed.destroy();
    await stillServing();
  });
});

describe('admin API routes that throw', () => {
  const routes: AdminRoute[] = [
    { method: 'GET', path: '/sync-throw', handle: () => { throw new Error('secret internals: sk-live-123'); } },
    { method: 'GET', path: '/reject', handle: async () => { throw new TypeError('db handle /var/lib/x'); } },
    { method: 'GET', path: '/known', handle: () => { throw new UsageError('bad thing'); } },
    { method: 'GET', path: '/bigint', handle: () => ({ status: 200, body: { n: 1n } }) },
    { method: 'GET', path: '/throw-non-error', handle: () => { throw 'a string'; } },
    { method: 'GET', path: '/ok', handle: () => ({ status: 200, body: { ok: true } }) },
  ];

  it('answers 500 TG_ERR_INTERNAL without internals, 400 for a known error, and keeps serving everything', async () => {
    const target = await echoServer();
    const tg = await startTidegate({
      services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
    });
    const admin = new AdminServer(routes, null, createLogger('silent'));
    await admin.listen({ host: '127.0.0.1', port: 0 });
    const port = Number(admin.address().split(':').pop());
    try {
      for (const path of ['/sync-throw', '/reject', '/bigint', '/throw-non-error']) {
        const answer = await rawExchange(port, `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`);
        assert.equal(answer.status, 500, path);
        assert.deepEqual(JSON.parse(answer.body), { error: { code: 'TG_ERR_INTERNAL', message: 'internal error' } });
      }
      const known = await rawExchange(port, 'GET /known HTTP/1.1\r\nhost: x\r\n\r\n');
      assert.equal(known.status, 400);
      assert.equal(errorCode(known), 'TG_ERR_USAGE');
      assert.equal((await rawExchange(port, 'GET /ok HTTP/1.1\r\nhost: x\r\n\r\n')).status, 200);
      const client = await connectTo(tg.port('fwd'));
      client.write('ping');
      assert.equal((await readBytes(client, 4)).toString(), 'ping');
      client.destroy();
    } finally {
      await admin.close();
      await tg.stop();
      await target.close();
    }
  });
});
