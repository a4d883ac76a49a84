import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { httpConnect, socks5Connect } from '../helpers/proxy-client.js';
import { echoServer } from '../fixtures/tcp.js';
import type { TestServer } from '../helpers/listen.js';
import { connectTo, countUntilClose, sendBytes } from '../helpers/sockets.js';
import { engines, startTidegate } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

const N = 40_000;
/** Sent with the proxy request, in the same write: the proxy has read them before the relay starts. */
const EARLY = Buffer.alloc(1_000, 0x61);

type Protocol = 'socks5' | 'http';

/** A proxy service of user alice (with `quota`, if any) that may reach loopback destinations. */
function proxyDoc(quota: Record<string, string> | null): Record<string, unknown> {
  return {
    users: [quota === null ? { id: 'alice' } : { id: 'alice', quota }],
    services: [{
      name: 'px', type: 'proxy', listen: '127.0.0.1:0', allowDestinations: ['127.0.0.0/8'], routing: 'direct',
      user: 'alice',
    }],
  };
}

/** Opens a tunnel to the echo server through the proxy; `early` goes with the request. */
async function tunnel(protocol: Protocol, port: number, echo: TestServer, early?: Buffer): Promise<Socket> {
  if (protocol === 'socks5') {
    const { socket, reply } = await socks5Connect(port, '127.0.0.1', echo.port, early);
    assert.equal(reply, 0);
    return socket;
  }
  const { socket, status } = await httpConnect(port, echo.address, early);
  assert.equal(status, 200);
  return socket;
}

/**
 * Sends N bytes through a tunnel to the echo server (`early` of them with the request) and ends once N came back;
 * resolves with what the client received after the handshake.
 */
async function echoThrough(socket: Socket, early: Buffer | null): Promise<number> {
  const done = countUntilClose(socket);
  let got = 0;
  socket.on('data', (c: Buffer) => {
    got += c.length;
    if (got === N) socket.end();
  });
  // The handshake helpers leave the socket paused.
  socket.resume();
  await sendBytes(socket, N - (early === null ? 0 : early.length));
  return done;
}

for (const engine of engines()) {
  describe(`accounting on proxy services (${engine.kind} engine)`, () => {
    let echo: TestServer;
    before(async () => {
      echo = await echoServer();
    });
    after(() => echo.close());

    it('books relayed bytes (not the handshake) to the proxy user and refuses the user past the quota', async () => {
      const tg = await startTidegate(proxyDoc({ bytes: '40000', direction: 'in' }), { engine });
      try {
        const socket = await tunnel('socks5', tg.port('px'), echo);
        assert.equal(await echoThrough(socket, null), N);
        await eventually(() => tg.records.length, (n) => n === 1);
        const usage = tg.runtime.accounting.usage('alice')!;
        assert.equal(usage.live.bytesIn, N);
        assert.equal(usage.live.bytesOut, N);
        assert.equal(usage.quota!.refusal, 'quota_exceeded');
        const refused = await connectTo(tg.port('px'));
        refused.write(Buffer.from([0x05, 0x01, 0x00]));
        assert.equal(await countUntilClose(refused), 0, 'no SOCKS5 greeting for a user past the quota');
        await eventually(() => tg.records.length, (n) => n === 2);
        assert.equal(tg.records[1]!.reason, 'quota_exceeded');
      } finally {
        await tg.stop();
      }
    });

    for (const protocol of ['socks5', 'http'] as const) {
      for (const early of [null, EARLY]) {
        const how = early === null ? '' : ', bytes pipelined after the request';
        it(`books exactly what each side received from the relay (${protocol}${how})`, async () => {
          const tg = await startTidegate(proxyDoc(null), { engine });
          try {
            const socket = await tunnel(protocol, tg.port('px'), echo, early ?? undefined);
            assert.equal(await echoThrough(socket, early), N);
            await eventually(() => tg.records.length, (n) => n === 1);
            const record = tg.records[0]!;
            assert.equal(record.reason, 'done');
            // The proxy's reply is the handshake, never relayed bytes; the early bytes are the client's data.
            assert.equal(record.bytesIn, N, 'bytes in: what the destination received');
            assert.equal(record.bytesOut, N, 'bytes out: what the client received after the reply');
            const usage = tg.runtime.accounting.usage('alice')!;
            assert.equal(usage.live.bytesIn, N);
            assert.equal(usage.live.bytesOut, N);
            assert.deepEqual(tg.status('px').bytes, { in: N, out: N });
          } finally {
            await tg.stop();
          }
        });
      }
      it(`does not charge the ${protocol} reply to an outbound quota`, async () => {
        const tg = await startTidegate(proxyDoc({ bytes: String(N), direction: 'out' }), { engine });
        try {
          const socket = await tunnel(protocol, tg.port('px'), echo);
          // The whole quota reaches the client: no byte of it went to the reply.
          assert.equal(await echoThrough(socket, null), N);
          await eventually(() => tg.records.length, (n) => n === 1);
          assert.equal(tg.records[0]!.bytesOut, N);
          assert.equal(tg.runtime.accounting.usage('alice')!.live.bytesOut, N);
        } finally {
          await tg.stop();
        }
      });
    }
  });
}
