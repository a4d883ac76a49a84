import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { AdminServer, type AdminRoute } from '../../src/admin/server.js';
import { createLogger } from '../../src/log.js';
import { errorCode, rawExchange } from '../helpers/raw-http.js';
import { tempDir } from '../helpers/temp.js';

const TOKEN = 'static-token';
const routes: AdminRoute[] = [{ method: 'GET', path: '/status', handle: () => ({ status: 200, body: { ok: true } }) }];
const SCRIPT = `console.log(${JSON.stringify('x'.repeat(4000))});\n`;

function get(port: number, path: string, headers = ''): ReturnType<typeof rawExchange> {
  return rawExchange(port, `GET ${path} HTTP/1.1\r\nhost: x\r\n${headers}\r\n`);
}

function header(head: string, name: string): string | undefined {
  return new RegExp(`\\r\\n${name}: *([^\\r]*)`, 'i').exec(head)?.[1];
}

describe('the dashboard files on the admin server', () => {
  let dir: string;
  let admin: AdminServer;
  let port: number;

  before(async () => {
    // A secret beside the ui folder: no request may read it.
    dir = tempDir('tidegate-ui-');
    writeFileSync(join(dir, 'secret.txt'), 'top secret');
    mkdirSync(join(dir, 'ui', 'assets'), { recursive: true });
    writeFileSync(join(dir, 'ui', 'index.html'), '<!doctype html><title>t</title><div id="app"></div>');
    writeFileSync(join(dir, 'ui', 'assets', 'index-Ab12Cd34.js'), SCRIPT);
    writeFileSync(join(dir, 'ui', 'assets', 'index-Ab12Cd34.css'), 'body{margin:0}');
    admin = new AdminServer(routes, TOKEN, createLogger('silent'), join(dir, 'ui'));
    await admin.listen({ host: '127.0.0.1', port: 0 });
    port = Number(admin.address().split(':').pop());
  });
  after(async () => {
    await admin.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page without a token, with a strict CSP, no-cache and an ETag; the API needs the token', async () => {
    const page = await get(port, '/ui/');
    assert.equal(page.status, 200);
    assert.match(page.body, /<div id="app">/);
    assert.equal(header(page.head, 'content-type'), 'text/html; charset=utf-8');
    assert.equal(header(page.head, 'cache-control'), 'no-cache');
    assert.equal(header(page.head, 'x-content-type-options'), 'nosniff');
    assert.equal(header(page.head, 'x-frame-options'), 'DENY');
    const csp = header(page.head, 'content-security-policy') ?? '';
    for (const part of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) {
      assert.ok(csp.includes(part), `${part} in ${csp}`);
    }
    assert.ok(!csp.includes('unsafe'), csp);
    assert.equal((await get(port, '/ui/index.html')).body, page.body);
    // The API is not opened by the dashboard: without the token, 401 as before.
    const status = await get(port, '/status');
    assert.equal(status.status, 401);
    assert.equal((await get(port, '/status', `authorization: Bearer ${TOKEN}\r\n`)).status, 200);
    // A wrong token does not keep anyone from the (data-free) page.
    assert.equal((await get(port, '/ui/', 'authorization: Bearer wrong\r\n')).status, 200);
  });

  it('redirects /ui to /ui/', async () => {
    const answer = await get(port, '/ui');
    assert.equal(answer.status, 308);
    assert.equal(header(answer.head, 'location'), '/ui/');
  });

  it('serves hashed assets with their type, cached for good, gzipped when asked, 304 on a matching ETag', async () => {
    const js = await get(port, '/ui/assets/index-Ab12Cd34.js');
    assert.equal(js.status, 200);
    assert.equal(js.body, SCRIPT);
    assert.equal(header(js.head, 'content-type'), 'text/javascript; charset=utf-8');
    assert.equal(header(js.head, 'cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(header(js.head, 'content-security-policy'), undefined);
    const css = await get(port, '/ui/assets/index-Ab12Cd34.css');
    assert.equal(header(css.head, 'content-type'), 'text/css; charset=utf-8');

    const zipped = await new Promise<Buffer>((resolve) => {
      void import('node:http').then(({ get: httpGet }) => httpGet({
        host: '127.0.0.1', port, path: '/ui/assets/index-Ab12Cd34.js', headers: { 'accept-encoding': 'gzip, br' },
      }, (res) => {
        assert.equal(res.headers['content-encoding'], 'gzip');
        assert.equal(res.headers.vary, 'accept-encoding');
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      }));
    });
    assert.ok(zipped.length < SCRIPT.length);
    assert.equal(gunzipSync(zipped).toString(), SCRIPT);

    const etag = header(js.head, 'etag')!;
    assert.match(etag, /^"[0-9a-f]+-[0-9a-f]+"$/);
    const again = await get(port, '/ui/assets/index-Ab12Cd34.js', `if-none-match: ${etag}\r\n`);
    assert.equal(again.status, 304);
    assert.equal(again.body, '');
  });

  it('answers HEAD without a body and other methods with 405', async () => {
    const head = await rawExchange(port, 'HEAD /ui/ HTTP/1.1\r\nhost: x\r\n\r\n', 2_000);
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.ok(Number(header(head.head, 'content-length')) > 0);
    const post = await rawExchange(port, `POST /ui/ HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\n`
      + 'content-length: 2\r\n\r\n{}');
    assert.equal(post.status, 405);
    assert.equal(header(post.head, 'allow'), 'GET, HEAD');
    assert.equal(errorCode(post), 'TG_ERR_METHOD');
  });

  it('never reads outside the built folder (traversal, encoded dots, absolute paths, NUL)', async () => {
    const attempts = [
      '/ui/../secret.txt', '/ui/%2e%2e/secret.txt', '/ui/..%2fsecret.txt', '/ui/assets/../../secret.txt',
      '/ui/assets/%2e%2e%2f%2e%2e%2fsecret.txt', '/ui//etc/passwd', '/ui/%2fetc%2fpasswd', '/ui/index.html%00',
      '/ui/./index.html', '/ui/assets/', '/ui/..\\secret.txt', '/uiX/index.html', '/ui/%',
    ];
    for (const path of attempts) {
      const answer = await get(port, path);
      assert.ok(answer.status === 404 || answer.status === 401, `${path}: ${answer.status}`);
      assert.ok(!answer.body.includes('top secret'), path);
      assert.ok(!answer.body.includes('root:'), path);
    }
    assert.equal(errorCode(await get(port, '/ui/nope.js')), 'TG_ERR_NOT_FOUND');
  });

  it('an admin server without a built dashboard answers 404 saying so', async () => {
    const bare = new AdminServer(routes, TOKEN, createLogger('silent'), join(dir, 'missing'));
    await bare.listen({ host: '127.0.0.1', port: 0 });
    try {
      const answer = await get(Number(bare.address().split(':').pop()), '/ui/');
      assert.equal(answer.status, 404);
      assert.match(answer.body, /not built/);
    } finally {
      await bare.close();
    }
  });
});
