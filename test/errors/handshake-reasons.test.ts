import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import {
  HttpRefusal,
  ProxyHandshakeError,
  SocksGreetingRefusal,
  SocksRefusal,
  type ProxyHandshakeReason,
} from '../../src/errors.js';
import { HandshakeReader, type Parse } from '../../src/relay/proxy/handshake-reader.js';
import { parseConnect, parseConnectResponse } from '../../src/relay/proxy/http-connect.js';
import { parseGreeting, parseReply, parseRequest } from '../../src/relay/proxy/socks5.js';
import { listen } from '../helpers/listen.js';
import { connectTo, readAll } from '../helpers/sockets.js';
import { startTidegate } from '../helpers/tidegate.js';

const REASONS: readonly ProxyHandshakeReason[] = [
  'peer_closed',
  'timeout',
  'too_large',
  'malformed',
  'unsupported',
  'no_method',
];

function failure(parse: Parse<unknown>, input: Buffer | string): ProxyHandshakeError {
  try {
    parse(typeof input === 'string' ? Buffer.from(input, 'latin1') : input);
  } catch (err) {
    assert.ok(err instanceof ProxyHandshakeError, String(err));
    return err;
  }
  assert.fail(`accepted ${JSON.stringify(input.toString())}`);
}

const NEVER: Parse<never> = () => null;

/** Runs a HandshakeReader on the server side of one loopback connection; `client` does what the test needs. */
async function readerFailure(
  maxBytes: number,
  timeoutMs: number,
  client: (socket: Socket) => void,
): Promise<ProxyHandshakeError> {
  let failed!: (err: unknown) => void;
  const outcome = new Promise<unknown>((resolve) => (failed = resolve));
  const server = await listen((socket) => {
    const reader = new HandshakeReader(socket, maxBytes, timeoutMs, 'client');
    reader.read(NEVER).then(
      () => failed(new Error('a parser that never accepts was satisfied')),
      (err: unknown) => {
        reader.release();
        socket.destroy();
        failed(err);
      },
    );
  });
  const socket = await connectTo(server.port);
  socket.on('error', () => undefined);
  try {
    client(socket);
    const err = await outcome;
    assert.ok(err instanceof ProxyHandshakeError, String(err));
    return err;
  } finally {
    socket.destroy();
    await server.close();
  }
}

describe('proxy handshake errors carry a reason', () => {
  it('the parsers set it where they refuse, with the status or reply they answer', () => {
    const http = (text: string): HttpRefusal => {
      const err = failure(parseConnect, text);
      assert.ok(err instanceof HttpRefusal, err.message);
      return err;
    };
    const cases: [HttpRefusal, number, ProxyHandshakeReason][] = [
      [http(`CONNECT a:1 HTTP/1.1\r\n${'x'.repeat(9000)}`), 431, 'too_large'],
      [http(`CONNECT a:1 HTTP/1.1\r\n${'a: b\r\n'.repeat(101)}\r\n`), 431, 'too_large'],
      [http('hello there\r\n\r\n'), 400, 'malformed'],
      [http('CONNECT a:1 HTTP/1.1\n\n'), 400, 'malformed'],
      [http('CONNECT a:0 HTTP/1.1\r\n\r\n'), 400, 'malformed'],
      // A plain request is served now (plain HTTP proxying); one without an absolute http:// URI is refused.
      [http('GET / HTTP/1.1\r\n\r\n'), 400, 'malformed'],
      [http('GET http://a/ HTTP/1.1\r\nHost: b\r\n\r\n'), 400, 'malformed'],
      [http('CONNECT a:1 HTTP/2.0\r\n\r\n'), 505, 'unsupported'],
    ];
    for (const [err, status, reason] of cases) {
      assert.deepEqual([err.status, err.reason], [status, reason], err.message);
    }

    const socks = (bytes: number[]): SocksRefusal => {
      const err = failure(parseRequest, Buffer.from(bytes));
      assert.ok(err instanceof SocksRefusal, err.message);
      return err;
    };
    assert.deepEqual([socks([0x05, 0x02, 0x00, 0x01]).reason, socks([0x05, 0x02]).reply], ['unsupported', 0x07]);
    const addressType = socks([0x05, 0x01, 0x00, 0x09]);
    assert.deepEqual([addressType.reason, addressType.reply], ['unsupported', 0x08]);
    assert.equal(socks([0x05, 0x01, 0x01]).reason, 'malformed');
    assert.equal(socks([0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0, 0]).reason, 'malformed');
    const greeting = failure(parseGreeting, Buffer.from([0x05, 0x00]));
    assert.ok(greeting instanceof SocksGreetingRefusal);
    assert.equal(greeting.reason, 'no_method');

    // An upstream proxy's unreadable answer to our CONNECT.
    assert.equal(failure(parseReply, Buffer.from([0x04, 0x00, 0x00, 0x01, 0x00])).reason, 'malformed');
    assert.equal(failure(parseConnectResponse, 'SSH-2.0-x\r\n\r\n').reason, 'malformed');
  });

  it('every refusal of random bytes names one of the known reasons', () => {
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const base = [
      Buffer.from('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n'),
      Buffer.from([0x05, 0x01, 0x00, 0x01, 10, 0, 0, 1, 1, 187]),
    ];
    const seen = new Set<string>();
    for (let i = 0; i < 5_000; i++) {
      const input = Buffer.from(base[i % 2]!);
      input[random(input.length)] = random(256);
      for (const parse of [parseConnect, parseGreeting, parseRequest]) {
        try {
          parse(input);
        } catch (err) {
          assert.ok(err instanceof ProxyHandshakeError);
          assert.ok(REASONS.includes(err.reason), err.reason);
          seen.add(err.reason);
        }
      }
    }
    assert.ok(seen.has('malformed') && seen.has('unsupported'), [...seen].join());
  });

  it('the reader tells a closed peer, a silent one and an oversized handshake apart', async () => {
    assert.equal((await readerFailure(1024, 60_000, (s) => s.end('CONNECT'))).reason, 'peer_closed');
    assert.equal((await readerFailure(1024, 50, () => undefined)).reason, 'timeout');
    assert.equal((await readerFailure(1024, 60_000, (s) => s.write(Buffer.alloc(4096, 0x41)))).reason, 'too_large');
  });

  it('the proxy answers a timed-out handshake with 400 JSON and a closed one with nothing', async () => {
    const proxy = { name: 'px', type: 'proxy', listen: '127.0.0.1:0', routing: 'direct', handshakeTimeout: '200ms' };
    const tg = await startTidegate({ services: [proxy] });
    try {
      const port = tg.port('px');
      const slow = await connectTo(port);
      slow.write('CONNECT 127.0.0.1:9 HTTP/1.1\r\n');
      const answer = (await readAll(slow)).toString('latin1');
      assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
      const body = JSON.parse(answer.split('\r\n\r\n')[1]!) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'TG_ERR_PROXY_HANDSHAKE');
      assert.match(body.error.message, /handshake not completed within 200 ms/);

      const gone = await connectTo(port);
      gone.end('CONNECT 127.0.0.1:9 HTTP/1.1\r\n');
      assert.equal((await readAll(gone)).length, 0, 'no answer to a client that closed mid-handshake');
      slow.destroy();
      gone.destroy();
    } finally {
      await tg.stop();
    }
  });
});
