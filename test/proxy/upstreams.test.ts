import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { documentToConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { taggedServer } from '../fixtures/tcp.js';
import { startTidegateProcess, type CliProcess } from '../helpers/cli.js';
import { freePort, listenHttp, type TestHttpServer, type TestServer } from '../helpers/listen.js';
import { socks5Connect } from '../helpers/proxy-client.js';
import { readLine, connectTo } from '../helpers/sockets.js';
import { startTidegate, type Running } from '../helpers/tidegate.js';
import { followSse } from '../helpers/sse.js';
import { eventually } from '../helpers/wait.js';

const TINYPROXY = '/usr/bin/tinyproxy';

interface ProxyStatus {
  name: string;
  url: string;
  up: boolean;
  probed: boolean;
  checks: number;
  failedChecks: number;
  downs: number;
  opened: number;
  failed: number;
}

function proxies(tg: Running): Record<string, ProxyStatus> {
  const detail = tg.status('px').detail as { upstreams: { proxies: ProxyStatus[] } };
  return Object.fromEntries(detail.upstreams.proxies.map((p) => [p.name, p]));
}

/** The tag a SOCKS5 CONNECT through the front proxy reached. */
async function reach(port: number, destPort: number): Promise<string> {
  const c = await socks5Connect(port, '127.0.0.1', destPort);
  assert.equal(c.reply, 0, 'the front proxy connected');
  const line = await readLine(c.socket);
  c.socket.destroy();
  return line;
}

/** A plain absolute-URI GET through the proxy. */
function fetchVia(port: number, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: url, headers: { host: new URL(url).host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** tinyproxy on 127.0.0.1:port (foreground), ready once it accepts. */
async function startTinyproxy(dir: string, port: number): Promise<ChildProcess> {
  const conf = join(dir, `tinyproxy-${port}.conf`);
  await writeFile(conf, [
    `Port ${port}`, 'Listen 127.0.0.1', 'Timeout 60', 'MaxClients 50', 'Allow 127.0.0.1', 'LogLevel Critical',
  ].join('\n') + '\n');
  const child = spawn(TINYPROXY, ['-d', '-c', conf], { stdio: 'ignore' });
  await eventually(async () => {
    try {
      (await connectTo(port)).destroy();
      return true;
    } catch {
      return false;
    }
  }, 10_000, 'tinyproxy listening');
  return child;
}

/** A second tidegate process: a SOCKS5 proxy on 127.0.0.1:port that may reach loopback destinations. */
function startSocksUpstream(dir: string, port: number): Promise<CliProcess> {
  return startTidegateProcess(dir, {
    admin: { listen: 'off' }, store: { sqlite: 'off' }, log: { level: 'info' },
    services: [{ name: 'a', type: 'proxy', listen: `127.0.0.1:${port}`, allowDestinations: ['127.0.0.0/8'] }],
  }, ['a'], { file: `upstream-${port}.json` });
}

const FAST_CHECK = { interval: '100ms', timeout: '1s', rise: 2, fall: 2 };

describe('proxy upstreams and groups', { skip: existsSync(TINYPROXY) ? false : 'tinyproxy is not installed' }, () => {
  let dir: string;
  let far: TestServer;
  let origin: TestHttpServer;
  let aPort: number;
  let bPort: number;
  let a: CliProcess | null = null;
  let b: ChildProcess;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tidegate-upstreams-'));
    far = await taggedServer('far');
    origin = await listenHttp((req, res) => {
      res.end(`origin saw ${req.url}`);
    });
    aPort = await freePort();
    bPort = await freePort();
    a = await startSocksUpstream(dir, aPort);
    b = await startTinyproxy(dir, bPort);
  });

  after(async () => {
    await a?.stop();
    b.kill('SIGKILL');
    await far.close();
    await origin.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a failover group uses its first proxy, fails over when it dies, returns to it after rise', async () => {
    const tg = await startTidegate({
      admin: { listen: '127.0.0.1:0' },
      services: [{
        name: 'px', type: 'proxy', listen: '127.0.0.1:0', allowDestinations: ['127.0.0.0/8'],
        upstreams: [
          { name: 'a', url: `socks5://127.0.0.1:${aPort}`, check: FAST_CHECK },
          { name: 'b', url: `http://127.0.0.1:${bPort}`, check: FAST_CHECK },
          { name: 'pair', group: ['a', 'b'], strategy: 'failover' },
        ],
        rules: [
          { match: { port: far.port }, action: { upstream: 'pair' } },
          { match: { port: origin.port }, action: { upstream: 'pair' } },
        ],
      }],
    });
    const admin = tg.runtime.adminAddress()!;
    const sub = await followSse(`http://${admin}/events`);
    try {
      const port = tg.port('px');
      await eventually(() => proxies(tg).a!.checks >= 1 && proxies(tg).b!.checks >= 1, 10_000, 'first probes');
      assert.equal(await reach(port, far.port), 'far');
      assert.equal(proxies(tg).a!.opened, 1);
      assert.equal(proxies(tg).b!.opened, 0);
      const plain = await fetchVia(port, `http://127.0.0.1:${origin.port}/one`);
      assert.deepEqual(plain, { status: 200, body: 'origin saw /one' });
      assert.equal(proxies(tg).a!.opened, 2, 'the plain request tunnelled through the SOCKS5 proxy a');

      // a dies: whether a probe or this connection notices first, b carries it.
      await a!.stop();
      a = null;
      assert.equal(await reach(port, far.port), 'far');
      assert.equal(proxies(tg).b!.opened, 1);
      // The probes mark it down after `fall` failures; /status, /metrics and the event stream say so.
      await eventually(() => !proxies(tg).a!.up, 10_000, 'a marked down');
      assert.equal(proxies(tg).a!.downs, 1);
      const metrics = await (await fetch(`http://${admin}/metrics`)).text();
      assert.match(metrics, /tidegate_health_up\{service="px",kind="upstream",name="a"\} 0/);
      assert.match(metrics, /tidegate_health_up\{service="px",kind="upstream",name="b"\} 1/);
      const failedChecks = /tidegate_health_checks_total\{service="px",kind="upstream",name="a",result="failed"\} [1-9]/;
      assert.match(metrics, failedChecks);
      await eventually(
        () => sub.events.some((e) => e.event === 'upstream' && e.data.upstream === 'a' && e.data.up === false),
        10_000, 'an upstream down event',
      );

      // While a is down nothing tries it first: b carries both the tunnel and the plain request (absolute URI).
      const failedBefore = proxies(tg).a!.failed;
      assert.equal(await reach(port, far.port), 'far');
      const viaB = await fetchVia(port, `http://127.0.0.1:${origin.port}/two`);
      assert.deepEqual(viaB, { status: 200, body: 'origin saw /two' });
      assert.equal(proxies(tg).a!.failed, failedBefore);
      assert.equal(proxies(tg).b!.opened, 3);

      // a comes back on the same port: after `rise` good probes it is up, and first again.
      a = await startSocksUpstream(dir, aPort);
      await eventually(() => proxies(tg).a!.up, 10_000, 'a back up');
      await eventually(
        () => sub.events.some((e) => e.event === 'upstream' && e.data.upstream === 'a' && e.data.up === true),
        10_000, 'an upstream up event',
      );
      const openedBefore = proxies(tg).a!.opened;
      assert.equal(await reach(port, far.port), 'far');
      assert.equal(proxies(tg).a!.opened, openedBefore + 1);
    } finally {
      sub.close();
      await tg.stop();
    }
  });

  it('a round-robin group alternates its members; final can name an upstream', async () => {
    const tg = await startTidegate({
      services: [{
        name: 'px', type: 'proxy', listen: '127.0.0.1:0', allowDestinations: ['127.0.0.0/8'],
        upstreams: [
          { name: 'a', url: `socks5://127.0.0.1:${aPort}`, check: false },
          { name: 'b', url: `http://127.0.0.1:${bPort}`, check: false },
          { name: 'both', group: ['a', 'b'], strategy: 'round-robin' },
        ],
        final: { upstream: 'both' },
      }],
    });
    try {
      const port = tg.port('px');
      for (let i = 0; i < 4; i++) assert.equal(await reach(port, far.port), 'far');
      assert.equal(proxies(tg).a!.opened, 2);
      assert.equal(proxies(tg).b!.opened, 2);
      assert.equal(proxies(tg).a!.probed, false);
      assert.equal(proxies(tg).a!.checks, 0);
    } finally {
      await tg.stop();
    }
  });
});

const NO_TINYPROXY = existsSync(TINYPROXY) ? false : 'tinyproxy is not installed';

describe('proxy upstreams without probes', { skip: NO_TINYPROXY }, () => {
  it('a dead first member fails over within the same connection, and traffic alone marks it down', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tidegate-upstreams-'));
    const far = await taggedServer('far');
    const aPort = await freePort();
    const bPort = await freePort();
    const a = await startSocksUpstream(dir, aPort);
    const b = await startTinyproxy(dir, bPort);
    const tg = await startTidegate({
      services: [{
        name: 'px', type: 'proxy', listen: '127.0.0.1:0', allowDestinations: ['127.0.0.0/8'],
        upstreams: [
          { name: 'a', url: `socks5://127.0.0.1:${aPort}`, check: false },
          { name: 'b', url: `http://127.0.0.1:${bPort}`, check: false },
          { name: 'pair', group: ['a', 'b'] },
        ],
        final: { upstream: 'pair' },
      }],
    });
    try {
      const port = tg.port('px');
      assert.equal(await reach(port, far.port), 'far');
      assert.deepEqual([proxies(tg).a!.opened, proxies(tg).b!.opened], [1, 0]);
      await a.stop();
      assert.equal(await reach(port, far.port), 'far');
      assert.equal(proxies(tg).a!.failed, 1, 'the refused dial counted against a');
      assert.equal(proxies(tg).b!.opened, 1, 'b carried the same connection');
      assert.equal(proxies(tg).a!.up, false);
      assert.equal(await reach(port, far.port), 'far');
      assert.equal(proxies(tg).a!.failed, 1, 'a down is tried after b, so not at all while b works');
      assert.equal(proxies(tg).b!.opened, 2);
    } finally {
      await tg.stop();
      b.kill('SIGKILL');
      await far.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('proxy upstreams config', () => {
  function read(service: Record<string, unknown>): unknown {
    return documentToConfig({
      services: [{ name: 'px', type: 'proxy', listen: '127.0.0.1:1080', ...service }],
    }, 'test').services[0];
  }

  it('reads proxies, groups, checks and upstream actions', () => {
    const config = read({
      upstreams: [
        { name: 'a', url: 'socks5://u:p@127.0.0.1:1081', check: { interval: '2s', rise: 3 } },
        { name: 'b', url: 'http://127.0.0.1:8080', check: false },
        { name: 'g', group: ['a', 'b'] },
      ],
      rules: [{ match: { domain: 'x.test' }, action: { upstream: 'g' } }],
      final: { upstream: 'a' },
    }) as {
      upstreams: { kind: string; name: string; check?: unknown; strategy?: string }[];
      rules: { action: string; upstream: string | null }[];
      final: string;
      finalUpstream: string;
    };
    assert.deepEqual(config.upstreams[0]!.check, { intervalMs: 2000, timeoutMs: 2000, rise: 3, fall: 3 });
    assert.deepEqual(config.upstreams[1]!.check, { intervalMs: 0, timeoutMs: 2000, rise: 2, fall: 3 });
    assert.equal(config.upstreams[2]!.strategy, 'failover');
    assert.deepEqual(config.rules[0], {
      match: { kind: 'domain', values: ['x.test'] }, action: 'upstream', upstream: 'g',
    });
    assert.equal(config.final, 'upstream');
    assert.equal(config.finalUpstream, 'a');
  });

  it('refuses unknown names, groups of groups, and an entry with both url and group', () => {
    const problems = (service: Record<string, unknown>): string[] => {
      try {
        read(service);
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.issues.map((i) => `${i.path}: ${i.message}`);
      }
      return [];
    };
    assert.deepEqual(problems({ rules: [{ match: { port: 1 }, action: { upstream: 'nope' } }] }), [
      'services[0].rules[0].action.upstream: no upstream named "nope" (upstreams: none)',
    ]);
    assert.deepEqual(problems({
      upstreams: [{ name: 'a', url: 'socks5://127.0.0.1:1' }, { name: 'g', group: ['a'] }, { name: 'h', group: ['g'] }],
    }), ['services[0].upstreams[2].group[0]: expected the name of an upstream with a url, got "g"']);
    assert.deepEqual(problems({ upstreams: [{ name: 'a', url: 'socks5://127.0.0.1:1', group: ['a'] }] }), [
      'services[0].upstreams[0]: expected exactly one of: url (an upstream proxy), group (a list of upstream names)',
    ]);
  });
});
