import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { encodeProxyHeader } from '../../src/origin/proxy-protocol/encode.js';
import { channel, startGateway, type Gateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/listen.js';
import { chat } from '../helpers/llm.js';
import { readAll } from '../helpers/sockets.js';
import { tempDir } from '../helpers/temp.js';
import { eventually, sleep } from '../helpers/wait.js';

const BODY = JSON.stringify(chat('gpt-4o'));

/** A chat request; `close` asks the server to end the connection after answering. */
function request(close: boolean): string {
  return `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n`
    + `content-length: ${Buffer.byteLength(BODY)}\r\nconnection: ${close ? 'close' : 'keep-alive'}\r\n\r\n${BODY}`;
}

function connectFrom(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress }, () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * Sends `prefix` (a PROXY header) and `requests` keep-alive requests (the last closes) from `localAddress`; with
 * `split` the header goes alone first. Returns the status codes answered, in order (none when closed unanswered).
 */
async function exchange(
  port: number, localAddress: string, prefix: Buffer | null, requests: number, split = false,
): Promise<number[]> {
  const s = await connectFrom(port, localAddress);
  s.on('error', () => undefined);
  const all = readAll(s).catch(() => Buffer.alloc(0));
  const text = Array.from({ length: requests }, (_, i) => request(i === requests - 1)).join('');
  if (prefix !== null && split) {
    s.write(prefix);
    await sleep(50);
    s.write(text);
  } else {
    s.write(prefix === null ? Buffer.from(text) : Buffer.concat([prefix, Buffer.from(text)]));
  }
  const answer = (await all).toString('latin1');
  return [...answer.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
}

/** Whether the gateway closed a connection that sent `bytes` without answering. */
async function closedUnanswered(port: number, bytes: Buffer | null, localAddress = '127.0.0.1'): Promise<boolean> {
  const s = await connectFrom(port, localAddress);
  s.on('error', () => undefined);
  const all = readAll(s).catch(() => Buffer.alloc(0));
  if (bytes !== null) s.write(bytes);
  return (await all).length === 0;
}

function refusedBy(gw: Gateway<'up'>): Record<string, number> {
  return gw.detail<{ refusedBy: Record<string, number> }>().refusedBy;
}

/** The request log's client column, oldest first (a reload flushes the writer). */
async function loggedClients(gw: Gateway<'up'>): Promise<(string | null)[]> {
  await gw.reload();
  const db = new Database(gw.dbFile!, { readonly: true });
  try {
    return (db.prepare('SELECT client FROM request_log ORDER BY id').all() as { client: string | null }[])
      .map((r) => r.client);
  } finally {
    db.close();
  }
}

function gatewayWith(extra: Record<string, unknown>): Promise<Gateway<'up'>> {
  return startGateway({
    upstreams: { up: 'openai' },
    sqlite: true,
    gateway: ({ up }) => ({ channels: [channel(up, { models: ['gpt-*'] })], ...extra }),
  });
}

describe('gateway: client origin', () => {
  it('acceptProxyProtocol: requests behind a v1 or v2 header are logged with its client; untrusted, malformed '
    + 'and late headers are closed and counted', async () => {
    const gw = await gatewayWith({ acceptProxyProtocol: { from: ['127.0.0.1/32'], timeout: '300ms' } });
    try {
      const port = gw.port;
      const v1 = encodeProxyHeader('v1', '203.0.113.9', 4242, '127.0.0.1', port);
      const v2 = encodeProxyHeader('v2', '2001:db8::9', 4343, '::1', port);
      // The header and two pipelined requests in one write, then a header alone before its request.
      assert.deepEqual(await exchange(port, '127.0.0.1', v1, 2), [200, 200]);
      assert.deepEqual(await exchange(port, '127.0.0.1', v2, 1, true), [200]);
      assert.deepEqual(gw.usage.map((r) => r.client), ['203.0.113.9', '203.0.113.9', '2001:db8::9']);
      assert.deepEqual(await loggedClients(gw), ['203.0.113.9', '203.0.113.9', '2001:db8::9']);
      assert.ok(await closedUnanswered(port, Buffer.from(request(true))));
      assert.ok(await closedUnanswered(port, Buffer.from('PROX')));
      assert.ok(await closedUnanswered(port, v1, '127.0.0.2'));
      assert.deepEqual(
        [refusedBy(gw).proxy_malformed, refusedBy(gw).proxy_timeout, refusedBy(gw).proxy_untrusted], [1, 1, 1],
      );
      const metric = await gw.runtime.accounting.metrics.getSingleMetricAsString('tidegate_service_refusals_total');
      assert.match(metric, /tidegate_service_refusals_total\{service="llm",reason="proxy_untrusted"\} 1/);
    } finally {
      await gw.close();
    }
  });

  it('without acceptProxyProtocol the socket\'s own address is logged', async () => {
    const gw = await gatewayWith({});
    try {
      assert.deepEqual(await exchange(gw.port, '127.0.0.2', null, 2), [200, 200]);
      assert.deepEqual(await loggedClients(gw), ['127.0.0.2', '127.0.0.2']);
    } finally {
      await gw.close();
    }
  });

  it('perIp.rate limits one address\'s requests (429, counted) and not another\'s', async () => {
    // 0.01 a second: one request, then none for 100 s.
    const gw = await gatewayWith({ perIp: { rate: 0.01 } });
    try {
      assert.deepEqual(await exchange(gw.port, '127.0.0.1', null, 2), [200, 429]);
      assert.deepEqual(await exchange(gw.port, '127.0.0.2', null, 1), [200]);
      const s = await connectFrom(gw.port);
      const answer = readAll(s);
      s.write(request(true));
      const text = (await answer).toString();
      assert.match(text, /^HTTP\/1\.1 429/);
      assert.match(text, /\r\nretry-after: 1\r\n/i);
      assert.match(text, /TG_ERR_PER_IP_RATE/);
      assert.equal(refusedBy(gw).per_ip_rate, 2);
      const metric = await gw.runtime.accounting.metrics.getSingleMetricAsString('tidegate_service_refusals_total');
      assert.match(metric, /tidegate_service_refusals_total\{service="llm",reason="per_ip_rate"\} 2/);
    } finally {
      await gw.close();
    }
  });

  it('perIp.rate refusals are in the request log with their status, error code and client', async () => {
    const gw = await gatewayWith({ perIp: { rate: 0.01 } });
    try {
      assert.deepEqual(await exchange(gw.port, '127.0.0.2', null, 2), [200, 429]);
      await gw.reload();
      const db = new Database(gw.dbFile!, { readonly: true });
      try {
        // Pipelined: the refusal may be booked before the answer before it finished.
        const rows = db.prepare(
          'SELECT endpoint, status, error, client, user, attempts FROM request_log ORDER BY status',
        ).all();
        assert.deepEqual(rows, [
          { endpoint: '/v1/chat/completions', status: 200, error: null, client: '127.0.0.2', user: null, attempts: 1 },
          {
            endpoint: '/v1/chat/completions', status: 429, error: 'TG_ERR_PER_IP_RATE', client: '127.0.0.2', user: null,
            attempts: 0,
          },
        ]);
      } finally {
        db.close();
      }
      assert.deepEqual(
        gw.usage.map((r) => [r.status, r.error]).sort(), [[200, null], [429, 'TG_ERR_PER_IP_RATE']],
      );
    } finally {
      await gw.close();
    }
  });

  it('perIp.maxConnections refuses the 11th connection of one address and not another\'s', async () => {
    const gw = await gatewayWith({ perIp: { maxConnections: 10 } });
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        const s = await connectFrom(gw.port);
        s.on('error', () => undefined);
        held.push(s);
      }
      await eventually(() => gw.runtime.status().services[0]!.connections.live === 10);
      assert.ok(await closedUnanswered(gw.port, Buffer.from(request(true))));
      assert.deepEqual(await exchange(gw.port, '127.0.0.2', null, 1), [200]);
      assert.equal(refusedBy(gw).per_ip_connections, 1);
      held.pop()!.destroy();
      await eventually(() => gw.runtime.status().services[0]!.connections.live === 9);
      assert.deepEqual(await exchange(gw.port, '127.0.0.1', null, 1), [200]);
    } finally {
      for (const s of held) s.destroy();
      await gw.close();
    }
  });

  it('a failed listener is bound again with back-off while a live connection goes on', async () => {
    const gw = await gatewayWith({});
    try {
      const port = gw.port;
      const live = await connectFrom(port);
      live.on('error', () => undefined);
      await eventually(() => gw.runtime.status().services[0]!.connections.live === 1);
      const services = (gw.runtime as unknown as { services: Map<string, { server: Server }> }).services;
      services.get('llm')!.server.emit('error', Object.assign(new Error('forced accept failure'), { code: 'EBADF' }));
      const listener = (): { recoveries: number; rebinding: boolean } =>
        gw.detail<{ listener: { recoveries: number; rebinding: boolean } }>().listener;
      assert.equal(listener().rebinding, true);
      await eventually(() => listener().recoveries === 1);
      assert.deepEqual(await exchange(port, '127.0.0.1', null, 1), [200]);
      // The connection accepted before the failure is still served.
      const answer = readAll(live);
      live.write(request(true));
      assert.match((await answer).toString(), /^HTTP\/1\.1 200/);
      const metric = await gw.runtime.accounting.metrics.getSingleMetricAsString('tidegate_service_recoveries_total');
      assert.match(metric, /tidegate_service_recoveries_total\{service="llm",kind="listener"\} 1/);
    } finally {
      await gw.close();
    }
  });
});

const HAPROXY = existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : null;

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

describe('gateway: PROXY protocol with a real peer', () => {
  it('HAProxy send-proxy-v2 in front of the gateway: the request log shows the original client', {
    skip: HAPROXY === null ? 'haproxy not installed (apt-get install haproxy)' : false,
  }, async () => {
    const gw = await gatewayWith({ acceptProxyProtocol: { from: ['127.0.0.1/32'] } });
    const dir = tempDir();
    const haproxyPort = await freePort();
    writeFileSync(join(dir, 'haproxy.cfg'), [
      'defaults', '  mode tcp', '  timeout connect 2s', '  timeout client 10s', '  timeout server 10s',
      'frontend f', `  bind 127.0.0.1:${haproxyPort}`, '  default_backend b',
      'backend b', `  server gw 127.0.0.1:${gw.port} send-proxy-v2`,
    ].join('\n') + '\n');
    const haproxy = spawn(
      HAPROXY!, ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    try {
      // 127.0.0.2 → HAProxy → (PROXY v2) → gateway.
      await eventually(async () => {
        const s = await connectFrom(haproxyPort, '127.0.0.3').catch(() => null);
        s?.destroy();
        return s !== null;
      }, 10_000, `haproxy on ${haproxyPort}`);
      assert.deepEqual(await exchange(haproxyPort, '127.0.0.2', null, 2), [200, 200]);
      assert.deepEqual(await loggedClients(gw), ['127.0.0.2', '127.0.0.2']);
      assert.equal(refusedBy(gw).proxy_untrusted, 0);
    } finally {
      await stopChild(haproxy);
      await gw.close();
    }
  });
});
