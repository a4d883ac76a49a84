import assert from 'node:assert/strict';
import { randomBytes, scryptSync } from 'node:crypto';
import { Agent, request, type IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { connectTo, readAll, readBytes } from '../helpers/sockets.js';
import { eventually } from '../helpers/wait.js';
import { availableEngines, startTidegate } from '../helpers/tidegate.js';
import { curl, encodeFrame, hasCurl, readFrame, startOrigin } from './origin-fixture.js';

const CURL = hasCurl();
const NO_CURL = 'curl is not installed here; the curl cases need it';
const curlOnly = { skip: !CURL && NO_CURL };

function scryptHash(password: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, 32, { N: 1024, r: 8, p: 1 });
  return `scrypt$1024$8$1$${salt.toString('base64')}$${hash.toString('base64')}`;
}

const USERS = [
  { id: 'alice', proxy: { username: 'alice', password: 'pw' } },
  { id: 'bob', proxy: { username: 'bob', passwordHash: scryptHash('s3cret:x') } },
];

function proxyDoc(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    users: USERS,
    services: [{
      name: 'px', type: 'proxy', listen: '127.0.0.1:0', allowDestinations: ['127.0.0.0/8'], auth: 'users', ...extra,
    }],
  };
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** One request through the proxy with Node's client (absolute URI in the request line). */
function viaProxy(
  proxyPort: number,
  url: string,
  options: { method?: string; headers?: Record<string, string>; agent?: Agent; body?: Buffer[] } = {},
): Promise<{ res: IncomingMessage; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port: proxyPort, method: options.method ?? 'GET', path: url, agent: options.agent,
      headers: { host: new URL(url).host, ...options.headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ res, body: Buffer.concat(chunks) }));
      // A body cut short (a quota) ends with close, not end: what arrived is the answer (res.complete says so).
      res.on('close', () => resolve({ res, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    for (const chunk of options.body ?? []) req.write(chunk);
    req.end();
  });
}

for (const engine of availableEngines()) {
  describe(`plain HTTP proxying and logins (${engine.kind})`, () => {
    it('curl: plain http:// through the proxy with a login; wrong or missing passwords get 407', curlOnly, async () => {
      const origin = await startOrigin();
      const tg = await startTidegate(proxyDoc(), { engine });
      try {
        const port = tg.port('px');
        const url = `http://127.0.0.1:${origin.port}/hello`;
        const ok = await curl(['-x', `http://alice:pw@127.0.0.1:${port}`, url]);
        assert.equal(ok.status, 200, ok.stderr);
        assert.equal(ok.body, 'hello GET /hello');
        const hashed = await curl(['-x', `http://bob:s3cret%3Ax@127.0.0.1:${port}`, url]);
        assert.equal(hashed.status, 200, 'a scrypt-hashed password (with a colon in it) logs in');
        const wrong = await curl(['-i', '-x', `http://alice:nope@127.0.0.1:${port}`, url]);
        assert.equal(wrong.status, 407);
        assert.match(wrong.body, /proxy-authenticate: Basic realm="tidegate"/i);
        assert.match(wrong.body, /"code":"TG_ERR_PROXY_AUTH"/);
        assert.doesNotMatch(wrong.body, /nope/, 'the password is never echoed');
        const none = await curl(['-x', `http://127.0.0.1:${port}`, url]);
        assert.equal(none.status, 407);
        // CONNECT through the same port (curl -p tunnels even http://), with and without the right password.
        const tunnel = await curl(['-p', '-x', `http://alice:pw@127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/tunnelled`]);
        assert.equal(tunnel.status, 200, tunnel.stderr);
        assert.equal(tunnel.body, 'hello GET /tunnelled');
        const badTunnel = await curl(['-p', '-x', `http://alice:bad@127.0.0.1:${port}`, url]);
        assert.notEqual(badTunnel.exit, 0, 'curl reports the refused CONNECT');
        const reached = origin.requests.filter((r) => r.url === '/hello').length;
        assert.equal(reached, 2, 'refused requests never reached the origin');
        await eventually(() => tg.status('px').connections.live === 0, 5_000, 'all closed');
        const auth = (tg.status('px').detail as { auth: { ok: number; failed: number } }).auth;
        assert.equal(auth.ok, 3);
        assert.equal(auth.failed, 2, 'wrong passwords are counted (missing credentials are not guesses)');
        assert.ok(tg.records.some((r) => r.user === 'alice' && r.reason === 'done'));
        assert.ok(tg.records.some((r) => r.user === 'bob'));
        // The refused first requests (wrong, missing, the CONNECT) end their connections.
        assert.equal(tg.records.filter((r) => r.reason === 'auth_failed').length, 3);
      } finally {
        await tg.stop();
        await origin.close();
      }
    });

    it('curl: SOCKS5 username/password (RFC 1929); a wrong password gets status 0x01', curlOnly, async () => {
      const origin = await startOrigin();
      const tg = await startTidegate(proxyDoc(), { engine });
      try {
        const port = tg.port('px');
        const ok = await curl(['--socks5', `alice:pw@127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/socks`]);
        assert.equal(ok.status, 200, ok.stderr);
        assert.equal(ok.body, 'hello GET /socks');
        const named = await curl(['--socks5-hostname', `bob:s3cret%3Ax@127.0.0.1:${port}`, `http://localhost:${origin.port}/named`]);
        assert.equal(named.status, 200, named.stderr);
        const wrong = await curl(['--socks5', `alice:wrong@127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/`]);
        assert.notEqual(wrong.exit, 0);
        // The same by hand: method 0x02 is chosen, a wrong password gets 01 01 and the close.
        const raw = await connectTo(port);
        raw.write(Buffer.from([0x05, 0x02, 0x00, 0x02]));
        assert.deepEqual([...(await readBytes(raw, 2))], [0x05, 0x02]);
        raw.write(Buffer.from([0x01, 5, ...Buffer.from('alice'), 3, ...Buffer.from('bad')]));
        assert.deepEqual([...(await readAll(raw))], [0x01, 0x01]);
        // A client offering only no-auth is refused when logins are on.
        const noAuth = await connectTo(port);
        noAuth.write(Buffer.from([0x05, 0x01, 0x00]));
        assert.deepEqual([...(await readAll(noAuth))], [0x05, 0xff]);
        await eventually(() => tg.status('px').connections.live === 0, 5_000, 'all closed');
        const users = tg.records.filter((r) => r.reason === 'done').map((r) => r.user).sort();
        assert.deepEqual(users, ['alice', 'bob']);
      } finally {
        await tg.stop();
        await origin.close();
      }
    });

    it('books bytes per logged-in user on one port, and refuses a user over quota', async () => {
      const origin = await startOrigin();
      const users = [
        ...USERS,
        { id: 'carol', proxy: { username: 'carol', password: 'c' }, quota: { bytes: '1KiB' } },
      ];
      const tg = await startTidegate({ ...proxyDoc(), users }, { engine });
      try {
        const port = tg.port('px');
        const a = await viaProxy(port, `http://127.0.0.1:${origin.port}/bytes/100000`, { headers: { 'proxy-authorization': basic('alice', 'pw'), connection: 'close' } });
        assert.equal(a.body.length, 100_000);
        const b = await viaProxy(port, `http://127.0.0.1:${origin.port}/bytes/30000`, { headers: { 'proxy-authorization': basic('bob', 's3cret:x'), connection: 'close' } });
        assert.equal(b.body.length, 30_000);
        const c = await viaProxy(port, `http://127.0.0.1:${origin.port}/bytes/5000`, { headers: { 'proxy-authorization': basic('carol', 'c'), connection: 'close' } });
        assert.equal(c.res.statusCode, 200);
        // The body stops at carol's quota: request and answer together are her 1 KiB, to the byte.
        assert.equal(c.res.complete, false);
        assert.ok(c.body.length < 1024, `carol got ${c.body.length} body bytes`);
        await eventually(() => tg.records.length === 3, 5_000, 'records');
        const carol = tg.records.find((r) => r.user === 'carol')!;
        assert.equal(carol.reason, 'quota_exceeded');
        assert.equal(carol.bytesIn + carol.bytesOut, 1024);
        const alice = tg.records.find((r) => r.user === 'alice')!;
        const bob = tg.records.find((r) => r.user === 'bob')!;
        assert.ok(alice.bytesOut > 100_000 && alice.bytesOut < 101_000, `alice out ${alice.bytesOut}`);
        assert.ok(bob.bytesOut > 30_000 && bob.bytesOut < 31_000, `bob out ${bob.bytesOut}`);
        assert.ok(alice.bytesIn > 0 && bob.bytesIn > 0);
        const usage = tg.runtime.accounting.usage('alice')!;
        assert.equal(usage.live.bytesOut, alice.bytesOut, JSON.stringify(usage));
        assert.equal(tg.runtime.accounting.usage('bob')!.live.bytesOut, bob.bytesOut);
        // carol is now past her 1 KiB: the next request is refused with 429.
        const refused = await viaProxy(port, `http://127.0.0.1:${origin.port}/bytes/10`, { headers: { 'proxy-authorization': basic('carol', 'c'), connection: 'close' } });
        assert.equal(refused.res.statusCode, 429);
        assert.match(refused.body.toString(), /TG_ERR_QUOTA_EXCEEDED/);
      } finally {
        await tg.stop();
        await origin.close();
      }
    });

    it('reuses one origin connection, streams chunked bodies, and strips hop-by-hop fields', async () => {
      const origin = await startOrigin();
      const tg = await startTidegate(proxyDoc(), { engine });
      try {
        const port = tg.port('px');
        const auth = { 'proxy-authorization': basic('alice', 'pw') };
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        for (let i = 0; i < 4; i++) {
          const r = await viaProxy(port, `http://127.0.0.1:${origin.port}/n${i}`, { headers: auth, agent });
          assert.equal(r.body.toString(), `hello GET /n${i}`);
        }
        // A second client connection (same origin) reuses the same origin connection too.
        const other = await viaProxy(port, `http://127.0.0.1:${origin.port}/other`, { headers: { ...auth, connection: 'close' } });
        assert.equal(other.res.statusCode, 200);
        assert.equal(origin.connections, 1, 'one origin connection for five requests');
        agent.destroy();

        // Hop-by-hop fields, and the ones Connection names, never reach the origin; end-to-end ones do.
        const client = await connectTo(port);
        const reply = readAll(client);
        client.write(`GET http://127.0.0.1:${origin.port}/hop HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n`
          + `Proxy-Authorization: ${basic('alice', 'pw')}\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n`
          + 'Proxy-Connection: keep-alive\r\n'
          + 'Keep-Alive: timeout=9\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\nX-End: kept\r\n\r\n');
        const text = (await reply).toString();
        const seen = origin.requests.find((r) => r.url === '/hop')!;
        const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
        const hops = ['x-hop', 'proxy-connection', 'proxy-authorization', 'keep-alive', 'te', 'trailer', 'upgrade'];
        for (const hop of hops) {
          assert.ok(!names.includes(hop), `${hop} reached the origin`);
        }
        assert.equal(seen.headers['x-end'], 'kept');
        assert.equal(seen.headers.host, `127.0.0.1:${origin.port}`);
        // … nor the client (the origin's /hop answer names X-Secret in Connection).
        assert.match(text, /^HTTP\/1\.1 200 OK/);
        assert.match(text, /X-Kept: yes/);
        for (const hop of ['X-Secret', 'Proxy-Authenticate', 'Upgrade', 'timeout=5']) {
          assert.ok(!text.includes(hop), `${hop} reached the client`);
        }

        // A chunked request body reaches the origin while the client is still sending it.
        const streaming = await connectTo(port);
        const answer = readAll(streaming);
        streaming.write(`POST http://127.0.0.1:${origin.port}/stream-in HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n`
          + `Proxy-Authorization: ${basic('alice', 'pw')}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`
          + '6\r\npart1;\r\n');
        assert.equal((await origin.firstChunk).toString(), 'part1;', 'the first chunk arrived before the body ended');
        streaming.write('5\r\npart2\r\n0\r\n\r\n');
        const echoed = (await answer).toString();
        assert.match(echoed, /\r\n\r\n[\s\S]*part1;[\s\S]*part2/);
        // A chunked answer reaches the client while the origin is still sending it.
        const slow = await connectTo(port);
        slow.write(`GET http://127.0.0.1:${origin.port}/slow-chunks HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n`
          + `Proxy-Authorization: ${basic('alice', 'pw')}\r\nConnection: close\r\n\r\n`);
        let got = '';
        await eventually(async () => {
          got += (await readBytes(slow, 1)).toString();
          return got.includes('first;');
        }, 5_000, 'the first chunk before the end');
        assert.match(got, /transfer-encoding: chunked/i);
        origin.release();
        assert.match((await readAll(slow)).toString(), /second/);
      } finally {
        await tg.stop();
        await origin.close();
      }
    });

    it('relays a WebSocket through the plain proxy (101, then frames both ways through the engine)', async () => {
      const origin = await startOrigin();
      const tg = await startTidegate(proxyDoc(), { engine });
      try {
        const port = tg.port('px');
        const ws = await connectTo(port);
        ws.write(`GET http://127.0.0.1:${origin.port}/ws HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n`
          + `Proxy-Authorization: ${basic('alice', 'pw')}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
          + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
        let head = '';
        while (!head.includes('\r\n\r\n')) head += (await readBytes(ws, 1)).toString('latin1');
        assert.match(head, /^HTTP\/1\.1 101 /);
        assert.match(head, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/);
        ws.write(encodeFrame(Buffer.from('hi there'), true));
        let frames = Buffer.alloc(0);
        let frame: ReturnType<typeof readFrame> = null;
        while (frame === null) {
          frames = Buffer.concat([frames, await readBytes(ws, 1)]);
          frame = readFrame(frames);
        }
        assert.equal(frame.payload.toString(), 'echo:hi there');
        ws.destroy();
        await eventually(() => tg.records.length === 1, 5_000, 'record');
        const record = tg.records[0]!;
        assert.equal(record.user, 'alice');
        assert.equal(record.target, `127.0.0.1:${origin.port} direct`);
        assert.ok(record.bytesOut > head.length, 'the frames after the 101 are counted');
        assert.equal((tg.status('px').detail as { http: { upgraded: number } }).http.upgraded, 1);
        const upgrade = origin.requests.find((r) => r.url === '/ws')!;
        assert.equal(upgrade.headers['proxy-authorization'], undefined);
        assert.equal(upgrade.headers.upgrade, 'websocket');
      } finally {
        await tg.stop();
        await origin.close();
      }
    });

    it('routes like CONNECT: guard refusals, the absolute URI to an HTTP upstream, CONNECT to SOCKS5', async () => {
      const origin = await startOrigin();
      const exitDoc = { name: 'exit', type: 'proxy', listen: '127.0.0.1:0', allowDestinations: ['127.0.0.0/8'] };
      const frontDoc = { name: 'front', type: 'proxy', listen: '127.0.0.1:0' };
      const tg = await startTidegate({ services: [exitDoc, frontDoc] }, { engine });
      try {
        // No allowDestinations on the front: loopback is refused, and so is tidegate's own listener.
        const front = tg.port('front');
        const denied = await viaProxy(front, `http://127.0.0.1:${origin.port}/`);
        assert.equal(denied.res.statusCode, 403);
        assert.match(denied.body.toString(), /TG_ERR_DESTINATION_DENIED/);
        const own = await viaProxy(front, `http://127.0.0.1:${front}/`);
        assert.equal(own.res.statusCode, 403);
        assert.equal(origin.requests.length, 0);
        for (const scheme of ['http', 'socks5']) {
          const upstream = `${scheme}://127.0.0.1:${tg.port('exit')}`;
          // Literal addresses are still checked before going upstream: open loopback for this part.
          const routed = { ...frontDoc, routing: 'upstream', upstream, allowDestinations: ['127.0.0.0/8'] };
          tg.setSource({ services: [exitDoc, routed] });
          assert.equal((await tg.runtime.reloadFromSource()).ok, true);
          const r = await viaProxy(tg.port('front'), `http://127.0.0.1:${origin.port}/via-${scheme}?q=1`, { headers: { connection: 'close' } });
          assert.equal(r.res.statusCode, 200, r.body.toString());
          assert.equal(r.body.toString(), `hello GET /via-${scheme}?q=1`);
        }
        const exit = tg.status('exit').detail as { http: { forwarded: number }; routed: { direct: number } };
        assert.equal(exit.http.forwarded, 1, 'the HTTP upstream got a plain absolute-URI request');
        assert.equal(exit.routed.direct, 2, 'and the SOCKS5 upstream a CONNECT');
        assert.deepEqual((tg.status('front').detail as { routed: unknown }).routed, { direct: 0, upstream: 2 });
      } finally {
        await tg.stop();
        await origin.close();
      }
    });
  });
}
