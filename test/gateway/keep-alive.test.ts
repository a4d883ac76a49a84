import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MockUpstream } from '../fixtures/llm-upstream.js';
import { chat, startGateway, type StartedGateway } from './helpers.js';

/** A raw keep-alive client: one socket, requests written by hand, answers read by their content-length. */
class RawClient {
  readonly socket: Socket;
  closedAt: number | null = null;
  private buffered = Buffer.alloc(0);
  private waiting: (() => void) | null = null;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.waiting?.();
    });
    socket.on('close', () => {
      this.closedAt = Date.now();
      this.waiting?.();
    });
  }

  static async open(url: string): Promise<RawClient> {
    const { hostname, port } = new URL(url);
    const socket = connect(Number(port), hostname);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawClient(socket);
  }

  /** Sends one chat request and resolves with the answer's status and body. */
  async chat(model: string): Promise<{ status: number; body: string }> {
    const body = JSON.stringify(chat(model));
    this.socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    return this.read();
  }

  /** Reads the next answer (by its content-length). */
  async read(): Promise<{ status: number; body: string }> {
    for (;;) {
      const head = this.buffered.indexOf('\r\n\r\n');
      if (head !== -1) {
        const headers = this.buffered.toString('latin1', 0, head);
        const length = Number(/content-length: (\d+)/i.exec(headers)?.[1] ?? NaN);
        if (this.buffered.length >= head + 4 + length) {
          const answer = { status: Number(headers.split(' ')[1]), body: this.buffered.toString('utf8', head + 4, head + 4 + length) };
          this.buffered = this.buffered.subarray(head + 4 + length);
          return answer;
        }
      }
      if (this.closedAt !== null) throw new Error('connection closed before the answer was complete');
      await new Promise<void>((resolve) => { this.waiting = resolve; });
      this.waiting = null;
    }
  }

  /** Resolves when the server closes the connection, or after `ms`; true when it closed. */
  async closedWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.closedAt === null && Date.now() < deadline) await sleep(20);
    return this.closedAt !== null;
  }
}

describe('gateway: idle client connections', () => {
  let up: MockUpstream;
  let slow: MockUpstream;
  let gw: StartedGateway;
  before(async () => {
    up = await MockUpstream.start({ dialect: 'openai', name: 'fast' });
    slow = await MockUpstream.start({ dialect: 'openai', name: 'slow', firstByteDelayMs: 1200 });
    gw = await startGateway({
      keepAliveTimeout: '500ms',
      firstByteTimeout: '10s',
      channels: [
        { name: 'fast', kind: 'openai', baseUrl: up.baseUrl, keys: ['k1'], models: ['gpt-*'] },
        { name: 'slow', kind: 'openai', baseUrl: slow.baseUrl, keys: ['k2'], models: ['slow-*'] },
      ],
    });
  });
  after(async () => {
    await gw.close();
    await up.close();
    await slow.close();
  });

  it('closes a keep-alive connection once it has been idle for keepAliveTimeout', async () => {
    const client = await RawClient.open(gw.url);
    const answer = await client.chat('gpt-4o');
    assert.equal(answer.status, 200);
    const answeredAt = Date.now();
    assert.equal(await client.closedWithin(5000), true, 'the idle connection was closed');
    // One sweep tick (250 ms at this timeout) either side of the timeout.
    assert.ok(client.closedAt! - answeredAt >= 500 - 250, `closed after ${client.closedAt! - answeredAt} ms`);
  });

  it('keeps a connection that is used more often than the timeout', async () => {
    const client = await RawClient.open(gw.url);
    for (let i = 0; i < 6; i++) {
      assert.equal((await client.chat('gpt-4o')).status, 200, `request ${i} on the same connection`);
      await sleep(200);
    }
    assert.equal(client.closedAt, null);
    client.socket.destroy();
  });

  it('keeps a connection whose next request is still arriving, byte by byte', async () => {
    const client = await RawClient.open(gw.url);
    assert.equal((await client.chat('gpt-4o')).status, 200);
    await sleep(300);
    // The next request's head trickles in over 1.5 s, three times the idle timeout.
    const body = JSON.stringify(chat('gpt-4o'));
    const head = `POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`;
    for (let i = 0; i < 15; i++) {
      client.socket.write(head.slice(Math.floor((i * head.length) / 15), Math.floor(((i + 1) * head.length) / 15)));
      await sleep(100);
    }
    assert.equal(client.closedAt, null, 'not closed while the request head arrived');
    client.socket.write(`\r\n${body}`);
    assert.equal((await client.read()).status, 200);
    client.socket.destroy();
  });

  it('never closes a connection while one of its requests is open, however long it takes', async () => {
    const client = await RawClient.open(gw.url);
    // The slow channel answers after 1.2 s, more than twice the idle timeout.
    const answer = await client.chat('slow-1');
    assert.equal(answer.status, 200);
    assert.equal(client.closedAt, null, 'the connection outlived the timeout while its request was open');
    assert.equal(await client.closedWithin(5000), true, 'and was closed once idle');
  });
});
