import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { httpConnect, socks5Connect } from '../helpers/proxy-client.js';
import { echoServer } from '../fixtures/tcp.js';
import { freePort } from '../helpers/listen.js';
import { connectTo, readAll, readBytes } from '../helpers/sockets.js';
import { availableEngines, startTidegate } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

/** A CONNECT the guard refuses: 403 with the JSON error body. */
async function refusedConnect(port: number, target: string): Promise<ErrorBody> {
  const http = await httpConnect(port, target);
  assert.equal(http.status, 403, `CONNECT ${target}`);
  assert.match(http.head, /content-type: application\/json/);
  return JSON.parse((await readAll(http.socket)).toString()) as ErrorBody;
}

/** A SOCKS5 CONNECT with an IPv6 address (ATYP 4). */
async function socks5ConnectV6(port: number, groups: readonly number[], destPort: number): Promise<number> {
  const socket = await connectTo(port);
  socket.write(Buffer.from([0x05, 0x01, 0x00]));
  await readBytes(socket, 2);
  const request = Buffer.alloc(22);
  request.set([0x05, 0x01, 0x00, 0x04]);
  groups.forEach((g, i) => request.writeUInt16BE(g, 4 + i * 2));
  request.writeUInt16BE(destPort, 20);
  socket.write(request);
  const reply = await readAll(socket);
  return reply[1]!;
}

async function echoes(socket: Socket, text: string): Promise<string> {
  const echoed = readAll(socket);
  socket.end(text);
  return (await echoed).toString();
}

for (const engine of availableEngines()) {
  describe(`proxy destinations (${engine.kind})`, () => {
    it("refuses the admin API and the proxy's own port (SOCKS5 0x02, CONNECT 403 JSON), "
      + 'even with loopback allowed', async () => {
      const tg = await startTidegate({
        admin: { listen: '127.0.0.1:0' },
        services: [{
          name: 'px', type: 'proxy', listen: '127.0.0.1:0', routing: 'direct', allowDestinations: ['127.0.0.0/8'],
        }],
      }, { engine });
      try {
        const port = tg.port('px');
        const adminPort = Number(tg.runtime.adminAddress()!.split(':').pop());
        for (const dest of [adminPort, port]) {
          const socks = await socks5Connect(port, '127.0.0.1', dest);
          assert.equal(socks.reply, 0x02, `SOCKS5 to 127.0.0.1:${dest}`);
          const body = await refusedConnect(port, `127.0.0.1:${dest}`);
          assert.equal(body.error.code, 'TG_ERR_DESTINATION_DENIED');
          assert.match(body.error.message, /own listeners/);
        }
        // A name and the IPv4-mapped form of the same address are refused as well.
        assert.equal((await socks5Connect(port, 'localhost', adminPort)).reply, 0x02);
        assert.equal(
          (await refusedConnect(port, `[::ffff:127.0.0.1]:${adminPort}`)).error.code, 'TG_ERR_DESTINATION_DENIED',
        );
        await eventually(() => tg.records.length === 6, 5_000, 'records');
        assert.ok(tg.records.every((r) => r.reason === 'destination_denied'));
        assert.equal((tg.status('px').detail as { denied: number }).denied, 6);
      } finally {
        await tg.stop();
      }
    });

    it('refuses loopback (also by name), link-local, unspecified and multicast destinations by default', async () => {
      const target = await echoServer();
      const tg = await startTidegate({
        services: [{ name: 'px', type: 'proxy', listen: '127.0.0.1:0', routing: 'direct' }],
      }, { engine });
      try {
        const port = tg.port('px');
        for (const host of ['127.0.0.1', 'localhost', '169.254.169.254', '0.0.0.0', '224.0.0.1']) {
          assert.equal((await socks5Connect(port, host, target.port)).reply, 0x02, host);
        }
        assert.equal(await socks5ConnectV6(port, [0, 0, 0, 0, 0, 0, 0, 1], target.port), 0x02, '::1');
        assert.equal(
          await socks5ConnectV6(port, [0, 0, 0, 0, 0, 0xffff, 0x7f00, 1], target.port), 0x02, '::ffff:127.0.0.1',
        );
        const byName = await refusedConnect(port, `localhost:${target.port}`);
        assert.equal(byName.error.code, 'TG_ERR_DESTINATION_DENIED');
        assert.match(byName.error.message, /localhost:\d+ \(127\.0\.0\.1:\d+\) is refused \(loopback\)/);
        assert.equal((await refusedConnect(port, `[::1]:${target.port}`)).error.code, 'TG_ERR_DESTINATION_DENIED');
        assert.equal((await refusedConnect(port, `[fe80::1]:${target.port}`)).error.code, 'TG_ERR_DESTINATION_DENIED');
        assert.equal(target.sockets.size, 0);
        assert.equal(tg.status('px').connections.total, 10);
      } finally {
        await tg.stop();
        await target.close();
      }
    });

    it('allowDestinations opens a listed range, or only the listed port of it', async () => {
      const target = await echoServer();
      const other = await echoServer();
      const tg = await startTidegate({
        services: [
          {
            name: 'range', type: 'proxy', listen: '127.0.0.1:0', routing: 'direct', allowDestinations: ['127.0.0.0/24'],
          },
          {
            name: 'port', type: 'proxy', listen: '127.0.0.1:0', routing: 'direct',
            allowDestinations: [`127.0.0.1:${target.port}`],
          },
        ],
      }, { engine });
      try {
        const viaRange = await socks5Connect(tg.port('range'), '127.0.0.1', target.port);
        assert.equal(viaRange.reply, 0);
        assert.equal(await echoes(viaRange.socket, 'range'), 'range');
        const viaName = await httpConnect(tg.port('range'), `localhost:${other.port}`);
        assert.equal(viaName.status, 200);
        assert.equal(await echoes(viaName.socket, 'by name'), 'by name');
        assert.equal(
          (await socks5Connect(tg.port('range'), '127.0.1.1', target.port)).reply, 0x02, 'outside the range',
        );

        const viaPort = await socks5Connect(tg.port('port'), '127.0.0.1', target.port);
        assert.equal(viaPort.reply, 0);
        assert.equal(await echoes(viaPort.socket, 'port'), 'port');
        assert.equal((await socks5Connect(tg.port('port'), '127.0.0.1', other.port)).reply, 0x02, 'another port');
      } finally {
        await tg.stop();
        await target.close();
        await other.close();
      }
    });

    it("an entry naming the port opens tidegate's own listener", async () => {
      const adminPort = await freePort();
      const tg = await startTidegate({
        admin: { listen: `127.0.0.1:${adminPort}` },
        services: [{
          name: 'px', type: 'proxy', listen: '127.0.0.1:0', routing: 'direct',
          allowDestinations: [`127.0.0.1/32:${adminPort}`],
        }],
      }, { engine });
      try {
        const http = await httpConnect(tg.port('px'), `127.0.0.1:${adminPort}`);
        assert.equal(http.status, 200);
        const answer = readAll(http.socket);
        http.socket.end(`GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        assert.match((await answer).toString(), /^HTTP\/1\.1 200/);
      } finally {
        await tg.stop();
      }
    });

    it('denyPrivate refuses RFC 1918 and CGNAT destinations before dialling', async () => {
      const tg = await startTidegate({
        services: [{ name: 'px', type: 'proxy', listen: '127.0.0.1:0', routing: 'direct', denyPrivate: true }],
      }, { engine });
      try {
        for (const host of ['10.1.2.3', '172.16.5.4', '192.168.0.1', '100.64.0.1']) {
          assert.equal((await socks5Connect(tg.port('px'), host, 80)).reply, 0x02, host);
        }
        assert.equal((await refusedConnect(tg.port('px'), '10.0.0.1:443')).error.code, 'TG_ERR_DESTINATION_DENIED');
        assert.equal(await socks5ConnectV6(tg.port('px'), [0xfd00, 0, 0, 0, 0, 0, 0, 1], 80), 0x02, 'fd00::1');
      } finally {
        await tg.stop();
      }
    });

    it('through an upstream proxy a literal address is still checked, a name is left to the upstream', async () => {
      const target = await echoServer();
      const tg = await startTidegate({
        services: [{
          name: 'exit', type: 'proxy', listen: '127.0.0.1:0', routing: 'direct', allowDestinations: ['127.0.0.0/8'],
        }],
      }, { engine });
      try {
        const exitPort = tg.port('exit');
        tg.setSource({
          services: [
            {
              name: 'exit', type: 'proxy', listen: '127.0.0.1:0', routing: 'direct', allowDestinations: ['127.0.0.0/8'],
            },
            { name: 'front', type: 'proxy', listen: '127.0.0.1:0', routing: 'upstream', upstream: `socks5://127.0.0.1:${exitPort}` },
          ],
        });
        assert.equal((await tg.runtime.reloadFromSource()).ok, true);
        const front = tg.port('front');
        assert.equal(
          (await socks5Connect(front, '127.0.0.1', target.port)).reply, 0x02, 'literal loopback through the upstream',
        );
        const named = await socks5Connect(front, 'localhost', target.port);
        assert.equal(named.reply, 0, 'the name went to the upstream, which allows loopback');
        assert.equal(await echoes(named.socket, 'chained'), 'chained');
        assert.equal(tg.status('exit').connections.total, 1);
      } finally {
        await tg.stop();
        await target.close();
      }
    });
  });
}
