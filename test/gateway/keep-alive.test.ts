import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { channel, withGateway } from '../helpers/gateway.js';
import { chat } from '../helpers/llm.js';
import { RawClient } from '../helpers/raw-client.js';
import { eventually, sleep } from '../helpers/wait.js';

describe('gateway: idle client connections', () => {
  const gw = withGateway({
    upstreams: { fast: 'openai', slow: { dialect: 'openai', firstByteDelayMs: 1200 } },
    gateway: ({ fast, slow }) => ({
      keepAliveTimeout: '500ms',
      firstByteTimeout: '10s',
      channels: [
        channel(fast, { keys: ['k1'], models: ['gpt-*'] }),
        channel(slow, { keys: ['k2'], models: ['slow-*'] }),
      ],
    }),
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
    const head = 'POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n'
      + `content-length: ${Buffer.byteLength(body)}\r\n`;
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

describe('gateway: a drain and a connection whose first request is still on its way', () => {
  const gw = withGateway({
    upstreams: { fast: 'openai' },
    gateway: ({ fast }) => ({ channels: [channel(fast, { keys: ['k1'], models: ['gpt-*'] })] }),
  });

  it('answers a request sent just after the shutdown began on a connection accepted before it', async () => {
    const client = await RawClient.open(gw.url);
    const used = await RawClient.open(gw.url);
    assert.equal((await used.chat('gpt-4o')).status, 200);
    await eventually(() => gw.runtime.status().services[0]!.connections.live === 2, 5000, 'both accepted');
    // The worker's rolling restart and SIGTERM both come here: the listener closes, connections drain.
    const stopped = gw.runtime.shutdown();
    assert.equal((await client.chat('gpt-4o')).status, 200, 'the first request of a fresh connection is served');
    assert.equal(await used.closedWithin(5000), true, 'a used, idle keep-alive connection is closed by the drain');
    await stopped;
    assert.equal(await client.closedWithin(5000), true);
  });
});
