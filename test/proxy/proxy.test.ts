import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { httpConnect, socks5Connect } from '../helpers/proxy-client.js';
import { blackhole } from '../fixtures/blackhole.js';
import { echoServer, taggedServer } from '../fixtures/tcp.js';
import { freePort } from '../helpers/listen.js';
import { connectTo, readAll, readBytes, readLine } from '../helpers/sockets.js';
import { availableEngines, startTidegate, testConfig } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

async function listFile(lines: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tidegate-geo-'));
  const file = join(dir, 'list.txt');
  await writeFile(file, lines);
  return file;
}

for (const engine of availableEngines()) {
  describe(`proxy service (${engine.kind})`, () => {
    it('SOCKS5 CONNECT (IPv4 and names) and HTTP CONNECT relay byte-exact, with early data first', async () => {
      const target = await echoServer();
      const tg = await startTidegate({
        services: [
          { name: 'px', type: 'proxy', listen: '127.0.0.1:0', allowDestinations: ['127.0.0.0/8'], routing: 'direct' },
        ],
      }, { engine });
      try {
        const port = tg.port('px');
        const viaIp = await socks5Connect(port, '127.0.0.1', target.port);
        assert.equal(viaIp.reply, 0);
        const echoed = readAll(viaIp.socket);
        viaIp.socket.end('socks by address');
        assert.equal((await echoed).toString(), 'socks by address');

        const viaName = await socks5Connect(port, 'localhost', target.port, Buffer.from('early bytes;'));
        assert.equal(viaName.reply, 0);
        const echoed2 = readAll(viaName.socket);
        viaName.socket.end('then more');
        assert.equal((await echoed2).toString(), 'early bytes;then more');

        const http = await httpConnect(port, target.address);
        assert.equal(http.status, 200);
        const echoed3 = readAll(http.socket);
        http.socket.end('over CONNECT');
        assert.equal((await echoed3).toString(), 'over CONNECT');

        await eventually(() => tg.records.length === 3, 5_000, 'records');
        assert.deepEqual(tg.records.map((r) => r.bytesIn).sort((a, b) => a - b), [12, 16, 21]);
        assert.ok(tg.records.every((r) => r.target.endsWith(' direct')));
        assert.deepEqual((tg.status('px').detail as { routed: unknown }).routed, { direct: 3, upstream: 0 });
      } finally {
        await tg.stop();
        await target.close();
      }
    });

    it('routes by GeoIP: listed countries go direct, others through a SOCKS5 or HTTP upstream', async () => {
      const near = await taggedServer('near');
      // Pretend 127.0.0.1 is in CN and 127.0.0.2 in US (loopback only, as tests must be).
      const farServer = await taggedServer('far', 0, '127.0.0.2');
      const farPort = farServer.port;
      const cn = await listFile('127.0.0.1/32\n');
      const us = await listFile('127.0.0.2 127.0.0.2\n');
      for (const scheme of ['socks5', 'http']) {
        const tg = await startTidegate({
          geo: { database: 'embedded', lists: [{ country: 'CN', file: cn }, { country: 'US', file: us }] },
          services: [
            {
              name: 'exit', type: 'proxy', listen: '127.0.0.1:0', allowDestinations: ['127.0.0.0/8'], routing: 'direct',
            },
            { name: 'front', type: 'proxy', listen: '127.0.0.1:0', allowDestinations: ['127.0.0.0/8'], routing: 'bypass_cn', upstream: `${scheme}://127.0.0.1:1` },
          ],
        }, { engine });
        try {
          // Point the front at the exit's real port with a reload (ports were not known before start).
          tg.setSource({
            geo: { database: 'embedded', lists: [{ country: 'CN', file: cn }, { country: 'US', file: us }] },
            services: [
              {
                name: 'exit', type: 'proxy', listen: '127.0.0.1:0', allowDestinations: ['127.0.0.0/8'],
                routing: 'direct',
              },
              { name: 'front', type: 'proxy', listen: '127.0.0.1:0', allowDestinations: ['127.0.0.0/8'], routing: 'bypass_cn', upstream: `${scheme}://127.0.0.1:${tg.port('exit')}` },
            ],
          });
          assert.equal((await tg.runtime.reloadFromSource()).ok, true);
          const front = tg.port('front');
          const direct = await socks5Connect(front, '127.0.0.1', near.port);
          assert.equal(direct.reply, 0);
          assert.equal(await readLine(direct.socket), 'near');
          direct.socket.destroy();
          const viaUpstream = await socks5Connect(front, '127.0.0.2', farPort);
          assert.equal(viaUpstream.reply, 0, `${scheme} upstream`);
          assert.equal(await readLine(viaUpstream.socket), 'far');
          viaUpstream.socket.write('ping');
          assert.equal((await readBytes(viaUpstream.socket, 4)).toString(), 'ping');
          viaUpstream.socket.destroy();
          assert.deepEqual((tg.status('front').detail as { routed: unknown }).routed, { direct: 1, upstream: 1 });
          assert.equal(tg.status('exit').connections.total, 1, 'the far destination went through the exit proxy');
          const cache = tg.runtime.geoStats()!;
          assert.ok(cache.misses >= 2);
        } finally {
          await tg.stop();
        }
      }
      await near.close();
      await farServer.close();
    });

    it('answers a destination that never accepts with 504, even when the client kept sending meanwhile', async () => {
      const hole = await blackhole();
      const tg = await startTidegate({
        services: [{
          name: 'px', type: 'proxy', listen: '127.0.0.1:0', allowDestinations: ['127.0.0.0/8'], routing: 'direct',
          connectTimeout: '300ms',
        }],
      }, { engine });
      try {
        const client = await connectTo(tg.port('px'));
        const answer = readAll(client);
        client.write(`CONNECT 127.0.0.1:${hole.port} HTTP/1.1\r\nHost: 127.0.0.1:${hole.port}\r\n\r\n`);
        // Sent while the connect is pending: unread bytes must not turn the refusal into a reset that loses it.
        await new Promise((resolve) => setTimeout(resolve, 100));
        client.write('x'.repeat(4096));
        assert.match((await answer).toString(), /^HTTP\/1\.1 504 Gateway Timeout/);
        await eventually(() => tg.records.length === 1, 5_000, 'record');
        assert.equal(tg.records[0]!.reason, 'upstream_unavailable');
      } finally {
        await tg.stop();
        hole.close();
      }
    });

    it('answers protocol errors and unreachable destinations in the client\'s protocol', async () => {
      const deadPort = await freePort(); // nothing listens there
      const tg = await startTidegate({
        services: [{
          name: 'px', type: 'proxy', listen: '127.0.0.1:0', allowDestinations: ['127.0.0.0/8'], routing: 'direct',
          handshakeTimeout: '500ms',
        }],
      }, { engine });
      try {
        const port = tg.port('px');
        const refused = await socks5Connect(port, '127.0.0.1', deadPort);
        assert.equal(refused.reply, 0x05, 'SOCKS5 connection refused');

        const http = await httpConnect(port, `127.0.0.1:${deadPort}`);
        assert.equal(http.status, 502);
        const body = JSON.parse((await readAll(http.socket)).toString()) as {
          error: { code: string; message: string };
        };
        assert.match(body.error.message, /ECONNREFUSED/);

        // A plain request is forwarded now; a name that does not resolve is a 502 with the code in JSON.
        const get = await connectTo(port);
        get.write('GET http://example.invalid/ HTTP/1.1\r\nHost: example.invalid\r\nConnection: close\r\n\r\n');
        const getReply = (await readAll(get)).toString();
        assert.match(getReply, /^HTTP\/1\.1 502 Bad Gateway/);
        assert.match(getReply, /"code":"TG_ERR_UPSTREAM_UNAVAILABLE"/);

        const garbage = await connectTo(port);
        garbage.write('hello there\r\n\r\n');
        assert.match((await readAll(garbage)).toString(), /^HTTP\/1\.1 400 Bad Request/);

        const bind = await connectTo(port);
        bind.write(Buffer.from([0x05, 0x01, 0x00]));
        await readBytes(bind, 2);
        bind.write(Buffer.from([0x05, 0x02, 0x00, 0x01, 127, 0, 0, 1, 0, 80]));
        const bindReply = await readAll(bind);
        assert.equal(bindReply[1], 0x07, 'BIND is not supported');

        const authOnly = await connectTo(port);
        authOnly.write(Buffer.from([0x05, 0x01, 0x02]));
        assert.deepEqual([...(await readAll(authOnly))], [0x05, 0xff]);

        const silent = await connectTo(port);
        await readAll(silent).catch(() => Buffer.alloc(0));

        await eventually(() => tg.status('px').connections.live === 0, 5_000, 'all closed');
        const reasons = tg.records.map((r) => r.reason).sort();
        // The plain request's connection is an HTTP session: it ends 'done' (its request was answered 502).
        assert.deepEqual(reasons, [
          'bad_handshake', 'bad_handshake', 'bad_handshake', 'bad_handshake', 'done', 'upstream_unavailable',
          'upstream_unavailable',
        ]);
        for (const r of tg.records.filter((rec) => rec.reason === 'upstream_unavailable')) {
          assert.equal(r.target, `127.0.0.1:${deadPort}`);
        }
        assert.deepEqual(
          (tg.status('px').detail as { routed: unknown }).routed, { direct: 0, upstream: 0 },
          'failed destinations are not counted as routed',
        );
      } finally {
        await tg.stop();
      }
    });

    it('a client that resets before reading its refusal leaves no uncaught error behind', async () => {
      const tg = await startTidegate({
        users: [{ id: 'u', proxy: { username: 'u', password: 'p' } }],
        services: [{ name: 'px', type: 'proxy', listen: '127.0.0.1:0', auth: 'users' }],
      }, { engine });
      const uncaught: string[] = [];
      const onUncaught = (err: Error): void => {
        uncaught.push(String(err));
      };
      process.on('uncaughtException', onUncaught);
      try {
        const port = tg.port('px');
        // No login: the proxy answers 407 and closes; the client is gone (RST) before that answer is written.
        for (let i = 0; i < RESETS; i++) {
          const client = await connectTo(port);
          client.on('error', () => undefined);
          client.write('CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n');
          await new Promise((resolve) => setImmediate(resolve));
          client.resetAndDestroy();
        }
        await eventually(() => tg.records.length === RESETS, 10_000, 'every refusal recorded');
        await eventually(() => tg.status('px').connections.live === 0, 5_000, 'all closed');
        assert.deepEqual(uncaught, []);
      } finally {
        process.off('uncaughtException', onUncaught);
        await tg.stop();
      }
    });
  });
}

/** Clients of the reset case: one would do when the reset lands first; most of these do. */
const RESETS = 20;

describe('proxy service: GeoIP database', () => {
  it('a missing database fails the start with an error naming the file', async () => {
    const config = testConfig({
      geo: { database: '/nonexistent/countries.mmdb' },
      services: [{ name: 'px', type: 'proxy', listen: '127.0.0.1:0', allowDestinations: ['127.0.0.0/8'], routing: 'bypass_cn', upstream: 'socks5://127.0.0.1:1' }],
    });
    await assert.rejects(Runtime.start(config, { log: createLogger('silent') }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'TG_ERR_GEO_DATABASE');
      assert.match(err.message, /\/nonexistent\/countries\.mmdb/);
      return true;
    });
  });
});
