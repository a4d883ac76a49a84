import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { parseConnect } from '../../src/relay/proxy/http-connect.js';
import { parseGreeting, parseRequest } from '../../src/relay/proxy/socks5.js';
import { echoServer } from '../fixtures/tcp.js';
import { connectTo, readAll, readBytes } from '../helpers/sockets.js';
import { availableEngines, startTidegate } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

/** Everything the proxy answers before it ends the connection (a reset after the answer counts as the end). */
function answer(socket: Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const done = (): void => {
      socket.destroy();
      resolve(Buffer.concat(chunks));
    };
    socket.once('end', done);
    socket.once('close', done);
    socket.on('error', () => undefined);
  });
}

async function send(port: number, ...writes: (string | Buffer)[]): Promise<Buffer> {
  const socket = await connectTo(port);
  const answered = answer(socket);
  for (const w of writes) socket.write(w);
  return answered;
}

function statusOf(reply: Buffer): number {
  return Number(/^HTTP\/1\.1 (\d{3}) /.exec(reply.toString('latin1'))?.[1] ?? 0);
}

for (const engine of availableEngines()) {
  describe(`strict CONNECT and SOCKS5 parsing (${engine.kind})`, () => {
    it('answers a 64 KiB CONNECT header block sent in one write with 431 JSON and closes', async () => {
      const target = await echoServer();
      const tg = await startTidegate({
        services: [{
          name: 'px', type: 'proxy', listen: '127.0.0.1:0', routing: 'direct', allowDestinations: ['127.0.0.0/8'],
        }],
      }, { engine });
      try {
        const port = tg.port('px');
        const filler = `X-Filler: ${'a'.repeat(1000)}\r\n`.repeat(66);
        const big = `CONNECT ${target.address} HTTP/1.1\r\nHost: ${target.address}\r\n${filler}\r\n`;
        assert.ok(big.length > 64 * 1024);
        const reply = await send(port, big);
        assert.equal(statusOf(reply), 431);
        const body = JSON.parse(reply.toString().split('\r\n\r\n')[1]!) as { error: { code: string; message: string } };
        assert.equal(body.error.code, 'TG_ERR_PROXY_HANDSHAKE');
        assert.match(body.error.message, /larger than 8192 bytes/);
        // The same block trickled in small pieces is refused the same way.
        const socket = await connectTo(port);
        const trickled = answer(socket);
        for (let at = 0; at < 12 * 1024; at += 512) socket.write(big.slice(at, at + 512));
        assert.equal(statusOf(await trickled), 431);
        assert.equal(target.sockets.size, 0, 'nothing was dialled');
        // A small CONNECT followed by more than 8 KiB of early data in the same write is fine: the data is relayed.
        const early = 'e'.repeat(20_000);
        const ok = await connectTo(port);
        const relayed = readAll(ok);
        ok.write(`CONNECT ${target.address} HTTP/1.1\r\nHost: ${target.address}\r\n\r\n${early}`);
        const established = 'HTTP/1.1 200 Connection Established\r\n\r\n';
        await eventually(() => ok.bytesRead >= established.length + early.length, 10_000, 'the early data echoed');
        ok.end();
        assert.equal((await relayed).toString(), established + early);
      } finally {
        await tg.stop();
        await target.close();
      }
    });

    it('refuses malformed request lines and header fields with 400 (505 for other versions) '
      + 'and never dials', async () => {
      const target = await echoServer();
      const tg = await startTidegate({
        services: [{
          name: 'px', type: 'proxy', listen: '127.0.0.1:0', routing: 'direct', allowDestinations: ['127.0.0.0/8'],
        }],
      }, { engine });
      try {
        const port = tg.port('px');
        const t = target.address;
        const cases: [string, number][] = [
          [`CONNECT ${t} HTTP/1.1\0\r\n\r\n`, 400],
          [`CONNECT ${t} HTTP/1.1 \r\n\r\n`, 400],
          [`CONNECT  ${t} HTTP/1.1\r\n\r\n`, 400],
          [`CONNECT ${t}\tHTTP/1.1\r\n\r\n`, 400],
          [`CONNECT ${t} HTTP/1.2\r\n\r\n`, 505],
          [`CONNECT ${t} http/1.1\r\n\r\n`, 400],
          [`CONNECT ${t} HTTP/1.1\nHost: x\n\n`, 400],
          [`CONNECT ${t} HTTP/1.1\r\nHost: x\n\r\n`, 400],
          [`CONNECT ${t} HTTP/1.1\r\nHo\rst: x\r\n\r\n`, 400],
          [`CONNECT ${t} HTTP/1.1\r\nHost : x\r\n\r\n`, 400],
          [`CONNECT ${t} HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n`, 400],
          [`CONNECT ${t} HTTP/1.1\r\nHost: x\x01y\r\n\r\n`, 400],
          [`CONNECT ${t} HTTP/1.1\r\nno colon here\r\n\r\n`, 400],
          [`CONNECT 127.0.0.1:0 HTTP/1.1\r\n\r\n`, 400],
          [`CONNECT 127.0.0.1:65536 HTTP/1.1\r\n\r\n`, 400],
          [`CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n`, 400],
          [`CONNECT 127.1:${target.port} HTTP/1.1\r\n\r\n`, 400],
          [`CONNECT 0x7f.1:${target.port} HTTP/1.1\r\n\r\n`, 400],
          [`CONNECT bad_-.host..name:80 HTTP/1.1\r\n\r\n`, 400],
          [`CONNECT [::1:80 HTTP/1.1\r\n\r\n`, 400],
          [`CONNECT /path HTTP/1.1\r\n\r\n`, 400],
          [`\r\nCONNECT ${t} HTTP/1.1\r\n\r\n`, 400],
          [`C\u00c9NNECT ${t} HTTP/1.1\r\n\r\n`, 400],
          // Plain requests need an absolute http:// URI whose Host field (when present) agrees with it.
          [`GET / HTTP/1.1\r\nHost: x\r\n\r\n`, 400],
          [`GET https://${t}/ HTTP/1.1\r\n\r\n`, 400],
          [`GET http://${t}/ HTTP/1.1\r\nHost: other.example\r\n\r\n`, 400],
          [`GET http://${t}/ HTTP/1.1\r\nHost: ${t}\r\nHost: ${t}\r\n\r\n`, 400],
          [`GET http://user:pw@${t}/ HTTP/1.1\r\n\r\n`, 400],
          [`GET http://127.0.0.1:0/ HTTP/1.1\r\n\r\n`, 400],
          [`GET http://${t}/a#frag HTTP/1.1\r\n\r\n`, 400],
          [`GET http://${t}/\x7f HTTP/1.1\r\n\r\n`, 400],
          [`GET http://${t}/ HTTP/1.1\nHost: x\n\n`, 400],
          [`GET http://${t}/ HTTP/2.0\r\n\r\n`, 505],
        ];
        for (const [request, status] of cases) {
          const reply = await send(port, Buffer.from(request, 'latin1'));
          assert.equal(statusOf(reply), status, JSON.stringify(request));
          if (status !== 405) assert.match(reply.toString(), /"code":"TG_ERR_PROXY_HANDSHAKE"/);
        }
        assert.equal(target.sockets.size, 0);
        // A well-formed request with a Proxy-Authorization field of any shape is served
        // (tidegate takes no credentials).
        const fine = await connectTo(port);
        fine.write(`CONNECT ${t} HTTP/1.0\r\nProxy-Authorization: Basic %%%not-base64\r\nX-Empty:\r\n\r\n`);
        assert.equal(statusOf(await readBytes(fine, 39)), 200);
        fine.destroy();
        await eventually(() => tg.status('px').connections.live === 0, 5_000, 'all closed');
      } finally {
        await tg.stop();
        await target.close();
      }
    });

    it('answers malformed SOCKS5 greetings and requests with their reply codes and closes', async () => {
      const tg = await startTidegate({
        services: [{ name: 'px', type: 'proxy', listen: '127.0.0.1:0', routing: 'direct', handshakeTimeout: '2s' }],
      }, { engine });
      try {
        const port = tg.port('px');
        const GREETING = Buffer.from([0x05, 0x01, 0x00]);
        const request = (...bytes: number[]): Buffer => Buffer.from(bytes);
        assert.deepEqual([...(await send(port, Buffer.from([0x05, 0x00])))], [0x05, 0xff], 'no methods');
        assert.deepEqual(
          [...(await send(port, Buffer.from([0x05, 0x02, 0x02, 0x01])))], [0x05, 0xff], 'no acceptable method',
        );
        const cases: [Buffer, number, string][] = [
          [request(0x04, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0, 80), 0x01, 'version 4 in the request'],
          [request(0x05, 0x02, 0x00, 0x01, 127, 0, 0, 1, 0, 80), 0x07, 'BIND'],
          [request(0x05, 0x03, 0x00, 0x01, 127, 0, 0, 1, 0, 80), 0x07, 'UDP ASSOCIATE'],
          [request(0x05, 0x09, 0x00), 0x07, 'unknown command, early'],
          [request(0x05, 0x01, 0x01, 0x01, 127, 0, 0, 1, 0, 80), 0x01, 'reserved byte'],
          [request(0x05, 0x01, 0x00, 0x02, 127, 0, 0, 1, 0, 80), 0x08, 'address type 2'],
          [request(0x05, 0x01, 0x00, 0x03, 0x00, 0, 80), 0x01, 'empty name'],
          [
            Buffer.concat([request(0x05, 0x01, 0x00, 0x03, 5), Buffer.from('a b\0c'), request(0, 80)]), 0x01,
            'control characters in the name',
          ],
          [
            Buffer.concat([request(0x05, 0x01, 0x00, 0x03, 5), Buffer.from('127.1'), request(0, 80)]), 0x01,
            'numeric name',
          ],
          [request(0x05, 0x01, 0x00, 0x01, 93, 184, 216, 34, 0, 0), 0x01, 'port 0'],
        ];
        for (const [bytes, code, what] of cases) {
          const reply = await send(port, GREETING, bytes);
          assert.deepEqual([...reply.subarray(0, 2)], [0x05, 0x00], `${what}: method chosen`);
          assert.equal(reply.length, 12, `${what}: one reply`);
          assert.equal(reply[3], code, what);
        }
        // A request cut short is not answered; the handshake timeout closes it.
        const cut = await send(port, GREETING, request(0x05, 0x01, 0x00, 0x03, 20, 0x61));
        assert.deepEqual([...cut], [0x05, 0x00]);
        await eventually(() => tg.status('px').connections.live === 0, 5_000, 'all closed');
        assert.ok(tg.records.every((r) => r.reason === 'bad_handshake'));
      } finally {
        await tg.stop();
      }
    });
  });
}

describe('handshake parsers are total', () => {
  it('never throw anything but a handshake error, whatever the bytes', () => {
    let seed = 1;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const seeds = [
      Buffer.from('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n'
        + 'Proxy-Authorization: Basic Zm9vOmJhcg==\r\n\r\n'),
      Buffer.from([0x05, 0x01, 0x00, 0x03, 11, ...Buffer.from('example.com'), 1, 187]),
      Buffer.from([0x05, 0x02, 0x00, 0x02]),
    ];
    for (let i = 0; i < 20_000; i++) {
      const input = Buffer.from(seeds[i % seeds.length]!);
      for (let m = 1 + random(4); m > 0; m--) input[random(input.length)] = random(256);
      const cut = input.subarray(0, random(input.length + 1));
      for (const parse of [parseConnect, parseGreeting, parseRequest]) {
        try {
          const parsed = parse(cut);
          if (parsed !== null) assert.ok(parsed.used <= cut.length);
        } catch (err) {
          assert.equal(
            (err as { code?: string }).code, 'TG_ERR_PROXY_HANDSHAKE',
            `${(err as Error).message} for ${cut.toString('hex')}`,
          );
        }
      }
    }
  });
});
