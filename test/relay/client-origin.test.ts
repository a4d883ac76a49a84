import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Server, Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseProxyHeader, ProxyHeader } from '../../src/origin/proxy-protocol/parse.js';
import { encodeProxyHeader } from '../../src/origin/proxy-protocol/encode.js';
import { echoServer } from '../fixtures/tcp.js';
import { freePort, listen, type TestServer } from '../helpers/listen.js';
import { readAll } from '../helpers/sockets.js';
import { tempDir } from '../helpers/temp.js';
import { availableEngines, type Running, startTidegate } from '../helpers/tidegate.js';
import { eventually, sleep } from '../helpers/wait.js';

/** A client from a chosen loopback source address (127.0.0.2 is another client to tidegate). */
function connectFrom(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress, allowHalfOpen: true }, () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

async function roundTrip(port: number, text: string, localAddress = '127.0.0.1', prefix?: Buffer): Promise<string> {
  const s = await connectFrom(port, localAddress);
  s.on('error', () => undefined);
  const all = readAll(s).catch(() => Buffer.alloc(0));
  s.end(prefix === undefined ? text : Buffer.concat([prefix, Buffer.from(text)]));
  return (await all).toString();
}

/** Whether the peer closed the connection without relaying `text`. */
async function refused(port: number, prefix: Buffer | null, localAddress = '127.0.0.1'): Promise<boolean> {
  const s = await connectFrom(port, localAddress).catch(() => null);
  if (s === null) return true;
  s.on('error', () => undefined);
  const all = readAll(s).catch(() => Buffer.alloc(0));
  if (prefix !== null) s.write(prefix);
  return (await all).length === 0;
}

/** A target that records the PROXY header it got, then echoes the rest. */
async function headerTarget(): Promise<{ port: number; headers: ProxyHeader[]; close(): Promise<void> }> {
  const headers: ProxyHeader[] = [];
  const server = await listen((socket) => {
    let buf = Buffer.alloc(0);
    let seen = false;
    socket.on('data', (chunk: Buffer) => {
      if (seen) return void socket.write(chunk);
      buf = Buffer.concat([buf, chunk]);
      const out = parseProxyHeader(buf);
      if (out instanceof ProxyHeader) {
        seen = true;
        headers.push(out);
        socket.write(buf.subarray(out.length));
      } else if (out !== 'more') socket.destroy();
    });
    socket.on('end', () => socket.end());
  });
  return { port: server.port, headers, close: () => server.close() };
}

for (const engine of availableEngines()) {
  describe(`relay (${engine.kind}): client origin`, () => {
    it('proxyProtocol v1 and v2 send the client\'s address ahead of its bytes, with failover too', async () => {
      const target = await headerTarget();
      const dead = await freePort();
      const tg = await startTidegate({
        services: ['v1', 'v2'].map((v, i) => ({
          name: `pp-${v}`, type: 'forward', listen: '127.0.0.1:0', proxyProtocol: v, strategy: 'failover',
          targets: i === 0 ? [`127.0.0.1:${target.port}`] : [`127.0.0.1:${dead}`, `127.0.0.1:${target.port}`],
        })),
      }, { engine });
      try {
        assert.equal(await roundTrip(tg.port('pp-v1'), 'hello one', '127.0.0.2'), 'hello one');
        assert.equal(await roundTrip(tg.port('pp-v2'), 'hello two', '127.0.0.2'), 'hello two');
        assert.deepEqual(target.headers.map((h) => [h.version, h.sourceAddress, h.destinationPort]), [
          [1, '127.0.0.2', tg.port('pp-v1')],
          [2, '127.0.0.2', tg.port('pp-v2')],
        ]);
      } finally {
        await tg.stop();
        await target.close();
      }
    });

    it('acceptProxyProtocol takes the client from a trusted peer; untrusted, malformed, late ones are closed and '
      + 'counted', async () => {
      const target = await echoServer();
      const tg = await startTidegate({
        services: [
          {
            name: 'trusting', type: 'forward', listen: '127.0.0.1:0', targets: [target.address],
            acceptProxyProtocol: { from: ['127.0.0.1/32'], timeout: '300ms' },
          },
          {
            name: 'wary', type: 'forward', listen: '127.0.0.1:0', targets: [target.address],
            acceptProxyProtocol: { from: ['10.0.0.0/8'] },
          },
        ],
      }, { engine });
      try {
        const port = tg.port('trusting');
        const v1 = encodeProxyHeader('v1', '203.0.113.9', 4242, '127.0.0.1', port);
        const v2 = encodeProxyHeader('v2', '2001:db8::9', 4343, '::1', port);
        assert.equal(await roundTrip(port, 'after v1', '127.0.0.1', v1), 'after v1');
        assert.equal(await roundTrip(port, 'after v2', '127.0.0.1', v2), 'after v2');
        await eventually(() => tg.records.length >= 2);
        assert.deepEqual(tg.records.map((r) => r.client).sort(), ['2001:db8::9:4343', '203.0.113.9:4242']);
        assert.ok(await refused(port, Buffer.from('GET / HTTP/1.1\r\n\r\n')));
        assert.ok(await refused(port, Buffer.from('PROX')));
        assert.ok(await refused(tg.port('wary'), v1));
        const by = tg.status('trusting').detail!.refusedBy as Record<string, number>;
        assert.equal(by.proxy_malformed, 1);
        assert.equal(by.proxy_timeout, 1);
        assert.equal((tg.status('wary').detail!.refusedBy as Record<string, number>).proxy_untrusted, 1);
      } finally {
        await tg.stop();
        await target.close();
      }
    });

    it('perIp.maxConnections refuses the 11th connection of one address and not another\'s', async () => {
      const target = await echoServer();
      const tg = await startTidegate({
        services: [{
          name: 'capped', type: 'forward', listen: '127.0.0.1:0', targets: [target.address],
          perIp: { maxConnections: 10 },
        }],
      }, { engine });
      const held: Socket[] = [];
      try {
        const port = tg.port('capped');
        for (let i = 0; i < 10; i++) {
          const s = await connectFrom(port);
          s.on('error', () => undefined);
          held.push(s);
        }
        await eventually(() => tg.status('capped').connections.live === 10);
        assert.ok(await refused(port, Buffer.from('eleventh')));
        assert.equal(await roundTrip(port, 'other address', '127.0.0.2'), 'other address');
        const by = tg.status('capped').detail!.refusedBy as Record<string, number>;
        assert.equal(by.per_ip_connections, 1);
        const metric = await tg.runtime.accounting.metrics.getSingleMetricAsString('tidegate_service_refusals_total');
        assert.match(metric, /tidegate_service_refusals_total\{service="capped",reason="per_ip_connections"\} 1/);
        held.pop()!.destroy();
        await eventually(() => tg.status('capped').connections.live === 9);
        assert.equal(await roundTrip(port, 'a slot again'), 'a slot again');
      } finally {
        for (const s of held) s.destroy();
        await tg.stop();
        await target.close();
      }
    });
  });
}

/** Forward services `a` and `b` in front of an echo server, and a live connection to `a` that sent 'before '. */
async function twoServices(): Promise<{ tg: Running; target: TestServer; live: Socket }> {
  const target = await echoServer();
  const tg = await startTidegate({
    services: ['a', 'b'].map((name) => ({ name, type: 'forward', listen: '127.0.0.1:0', targets: [target.address] })),
  });
  const live = await connectFrom(tg.port('a'));
  live.on('error', () => undefined);
  live.write('before ');
  return { tg, target, live };
}

/** After `a` recovered: `b` and `a` serve, the recovery is counted once by `kind`, and the live connection went on. */
async function recovered(tg: Running, live: Socket, kind: 'listener' | 'handler'): Promise<void> {
  assert.equal(await roundTrip(tg.port('b'), 'b serves'), 'b serves');
  assert.equal(await roundTrip(tg.port('a'), 'a again'), 'a again');
  const metric = await tg.runtime.accounting.metrics.getSingleMetricAsString('tidegate_service_recoveries_total');
  assert.match(metric, new RegExp(`tidegate_service_recoveries_total\\{service="a",kind="${kind}"\\} 1`));
  const rest = readAll(live);
  live.end('after');
  assert.equal((await rest).toString(), 'before after');
}

describe('listener recovery', () => {
  it('a forced listener error re-binds that service alone while the others serve', async () => {
    const { tg, target, live } = await twoServices();
    try {
      // The listener's own error, as libuv would report a broken accept.
      const services = (tg.runtime as unknown as { services: Map<string, { server: Server }> }).services;
      const service = services.get('a')!;
      service.server.emit('error', Object.assign(new Error('forced accept failure'), { code: 'EBADF' }));
      assert.equal((tg.status('a').detail!.listener as { rebinding: boolean }).rebinding, true);
      assert.equal(await roundTrip(tg.port('b'), 'b serves'), 'b serves');
      await eventually(() => (tg.status('a').detail!.listener as { recoveries: number }).recoveries === 1);
      await recovered(tg, live, 'listener');
    } finally {
      await tg.stop();
      await target.close();
    }
  });

  it('a connection handler that throws restarts that service alone (a new listener); its relays go on', async () => {
    const { tg, target, live } = await twoServices();
    try {
      await eventually(() => tg.status('a').connections.live === 1);
      // A socket the handler cannot read: its address getter throws inside the guarded connection handler.
      const services = (tg.runtime as unknown as { services: Map<string, { server: Server }> }).services;
      const broken = new Socket();
      Object.defineProperty(broken, 'remoteAddress', { get: () => { throw new Error('injected handler fault'); } });
      services.get('a')!.server.emit('connection', broken);
      const handler = (): { faults: number; restarts: number } =>
        tg.status('a').detail!.handler as { faults: number; restarts: number };
      await eventually(() => handler().restarts === 1);
      assert.equal(handler().faults, 1);
      assert.equal((tg.status('b').detail!.handler as { faults: number }).faults, 0);
      await recovered(tg, live, 'handler');
    } finally {
      await tg.stop();
      await target.close();
    }
  });
});

/** Runs a real server binary until `stop`; null with a message when it is not installed. */
function binary(path: string): string | null {
  return existsSync(path) ? path : null;
}

async function waitListening(port: number): Promise<void> {
  await eventually(async () => {
    const s = await connectFrom(port).catch(() => null);
    s?.destroy();
    return s !== null;
  }, 10_000, `port ${port}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

const HAPROXY = binary('/usr/sbin/haproxy');
const NGINX = binary('/usr/sbin/nginx');

describe('PROXY protocol with real peers', () => {
  it('HAProxy send-proxy-v2 in front, nginx proxy_protocol behind: both see the original client', {
    skip: HAPROXY === null || NGINX === null ? 'haproxy or nginx not installed (apt-get install haproxy nginx)' : false,
  }, async () => {
    const dir = tempDir();
    const nginxPort = await freePort();
    const haproxyPort = await freePort();
    writeFileSync(join(dir, 'nginx.conf'), [
      'worker_processes 1;', `pid ${dir}/nginx.pid;`, `error_log ${dir}/error.log;`, 'events {}',
      'http {',
      `  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir};`,
      `  uwsgi_temp_path ${dir}; scgi_temp_path ${dir};`,
      '  log_format pp \'$proxy_protocol_addr $remote_addr\';',
      `  access_log ${dir}/access.log pp;`,
      `  server { listen 127.0.0.1:${nginxPort} proxy_protocol;`,
      '    location / { return 200 "client=$proxy_protocol_addr\\n"; } }',
      '}',
    ].join('\n'));
    const nginx = spawn(
      NGINX!, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const target = await echoServer();
    const tg = await startTidegate({
      services: [
        {
          name: 'front', type: 'forward', listen: '127.0.0.1:0', targets: [target.address],
          acceptProxyProtocol: { from: ['127.0.0.1/32'] },
        },
        { name: 'behind', type: 'forward', listen: '127.0.0.1:0', targets: [`127.0.0.1:${nginxPort}`],
          proxyProtocol: 'v2' },
      ],
    });
    writeFileSync(join(dir, 'haproxy.cfg'), [
      'defaults', '  mode tcp', '  timeout connect 2s', '  timeout client 10s', '  timeout server 10s',
      'frontend f', `  bind 127.0.0.1:${haproxyPort}`, '  default_backend b',
      'backend b', `  server tg 127.0.0.1:${tg.port('front')} send-proxy-v2`,
    ].join('\n') + '\n');
    const haproxy = spawn(
      HAPROXY!, ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    try {
      await waitListening(haproxyPort);
      await waitListening(nginxPort);
      // 127.0.0.2 → HAProxy → (PROXY v2) → tidegate: the record names 127.0.0.2, not HAProxy's 127.0.0.1.
      assert.equal(await roundTrip(haproxyPort, 'through haproxy', '127.0.0.2'), 'through haproxy');
      // (The readiness probe above came from 127.0.0.1 and is recorded as such.)
      await eventually(() => tg.records.some((r) => r.service === 'front' && r.bytesIn > 0));
      assert.match(tg.records.find((r) => r.service === 'front' && r.bytesIn > 0)!.client, /^127\.0\.0\.2:\d+$/);
      // 127.0.0.2 → tidegate → (PROXY v2) → nginx: nginx answers and logs the original client.
      const reply = await roundTrip(tg.port('behind'), 'GET / HTTP/1.0\r\nHost: x\r\n\r\n', '127.0.0.2');
      assert.match(reply, /client=127\.0\.0\.2/);
      await eventually(() => readFileSync(join(dir, 'access.log'), 'utf8').includes('127.0.0.2 127.0.0.1'));
    } finally {
      await stopChild(haproxy);
      await stopChild(nginx);
      await tg.stop();
      await target.close();
      await sleep(0);
    }
  });
});
