import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { MockUpstream } from '../fixtures/llm-upstream.js';
import { echoServer } from '../fixtures/tcp.js';
import { startTidegateProcess } from '../helpers/cli.js';
import { channel } from '../helpers/gateway.js';
import { getJson } from '../helpers/http.js';
import type { TestServer } from '../helpers/listen.js';
import { chat } from '../helpers/llm.js';
import { readAll } from '../helpers/sockets.js';
import { tempDir } from '../helpers/temp.js';
import { eventually } from '../helpers/wait.js';

const FAULT = '/test/fault';
const BODY = JSON.stringify(chat('gpt-4o'));
const CHAT = `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n`
  + `content-length: ${Buffer.byteLength(BODY)}\r\n\r\n${BODY}`;

const STATUS_LINE = /HTTP\/1\.1 (\d{3})/;

/** A keep-alive client that sends one request at a time and reads one answer's status. */
class KeepAliveClient {
  private buffered = '';
  private readonly waiting: ((status: number) => void)[] = [];
  constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      this.buffered += text;
      // Each answer here carries a content-length; one status line per answer.
      let m: RegExpExecArray | null;
      while ((m = STATUS_LINE.exec(this.buffered)) !== null) {
        this.buffered = this.buffered.slice(m.index + m[0].length);
        this.waiting.shift()?.(Number(m[1]));
      }
    });
    socket.on('error', () => undefined);
  }

  static open(address: string): Promise<KeepAliveClient> {
    const at = address.lastIndexOf(':');
    const [host, port] = [address.slice(0, at), Number(address.slice(at + 1))];
    return new Promise((resolve, reject) => {
      const s = connect({ host, port }, () => resolve(new KeepAliveClient(s)));
      s.once('error', reject);
    });
  }

  send(raw: string): Promise<number> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.socket.write(raw);
    });
  }
}

async function relayEcho(address: string, text: string): Promise<string> {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  s.on('error', () => undefined);
  const all = readAll(s);
  s.end(text);
  return (await all).toString();
}

describe('graduated recovery: a service whose handler throws is restarted alone', () => {
  let up: MockUpstream;
  let echo: TestServer;
  let dir: string;
  before(async () => {
    up = await MockUpstream.start({ dialect: 'openai', name: 'up' });
    echo = await echoServer();
    dir = tempDir('tidegate-recovery-');
  });
  after(async () => {
    await up.close();
    await echo.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the faulting gateway gets a new listener, keeps its live connection; the others and the process serve on',
    async () => {
      const tg = await startTidegateProcess(dir, {
        admin: { listen: '127.0.0.1:0' },
        log: { level: 'info' },
        store: { sqlite: 'off' },
        services: [
          { name: 'a', type: 'gateway', listen: '127.0.0.1:0', channels: [channel(up, { models: ['gpt-*'] })] },
          { name: 'b', type: 'gateway', listen: '127.0.0.1:0', channels: [channel(up, { models: ['gpt-*'] })] },
          { name: 'f', type: 'forward', listen: '127.0.0.1:0', targets: [echo.address] },
        ],
      }, ['a', 'b', 'f', 'admin'], { env: { TIDEGATE_TEST_FAULT_PATH: FAULT } });
      const admin = tg.address('admin');
      const status = async (name: string): Promise<Record<string, unknown>> => {
        const body = (await getJson(admin, '/status')).body as { services: { name: string; detail: object }[] };
        return body.services.find((s) => s.name === name)!.detail as Record<string, unknown>;
      };
      const handler = async (name: string): Promise<{ faults: number; restarts: number }> =>
        (await status(name)).handler as { faults: number; restarts: number };
      const kept = await KeepAliveClient.open(tg.address('a'));
      const other = await KeepAliveClient.open(tg.address('b'));
      try {
        assert.equal(await kept.send(CHAT), 200);
        // The injected fault: the handler throws on this request (answered 500, that connection closed).
        const faulting = await KeepAliveClient.open(tg.address('a'));
        assert.equal(await faulting.send(`GET ${FAULT} HTTP/1.1\r\nhost: x\r\n\r\n`), 500);
        await eventually(async () => (await handler('a')).restarts === 1, 10_000, 'service a restarted');
        assert.equal((await handler('a')).faults, 1);
        const b = await handler('b');
        assert.deepEqual([b.faults, b.restarts], [0, 0]);
        // The other gateway and the forward service served throughout, on their connections and new ones.
        assert.equal(await other.send(CHAT), 200);
        assert.equal(await relayEcho(tg.address('f'), 'still relaying'), 'still relaying');
        // a serves new connections on its new listener, same address, and the connection from before goes on.
        const fresh = await KeepAliveClient.open(tg.address('a'));
        assert.equal(await fresh.send(CHAT), 200);
        fresh.socket.destroy();
        assert.equal(await kept.send(CHAT), 200);
        const metrics = (await getJson(admin, '/metrics')).text;
        assert.match(metrics, /tidegate_service_recoveries_total\{service="a",kind="handler"\} 1/);
        assert.match(metrics, /tidegate_service_recoveries_total\{service="b",kind="handler"\} 0/);
        assert.match(tg.output(), /service handler failed unexpectedly: restarting the service alone/);
        assert.match(tg.output(), /service restarted after a handler fault/);
        assert.ok(tg.alive, 'the process never restarts for a service');
        faulting.socket.destroy();
      } finally {
        kept.socket.destroy();
        other.socket.destroy();
        tg.child.kill('SIGTERM');
        await tg.exited;
      }
    });
});
