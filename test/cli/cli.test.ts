import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { echoServer } from '../fixtures/tcp.js';
import { runCli, startCli } from '../helpers/cli.js';
import { freePort, listen } from '../helpers/listen.js';
import { connectTo, readAll } from '../helpers/sockets.js';

async function tempFile(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tidegate-cli-'));
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

async function statusOf(
  port: number,
): Promise<{ relayEngine: string; services: { name: string; listen: string; state: string }[] }> {
  const res = await fetch(`http://127.0.0.1:${port}/status`);
  return (await res.json()) as never;
}

describe('tidegate check', () => {
  it('prints every error with its path and exits 2', async () => {
    const file = await tempFile('bad.yaml', [
      'services:',
      '  - { name: a, type: forward, listen: 127.0.0.1:1, targets: [127.0.0.1:2] }',
      '  - { name: b, type: forward, listen: 127.0.0.1:3, targets: [127.0.0.1:4], strategy: best }',
      '  - { name: c, type: forward, listen: "80", targets: [127.0.0.1:2] }',
    ].join('\n'));
    const run = await runCli(['check', '--config', file]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /TG_ERR_CONFIG: 2 problem\(s\)/);
    assert.match(run.stderr, /services\[2\]\.listen: expected host:port, got "80"/);
    assert.match(run.stderr, /services\[1\]\.strategy: expected one of/);
  });

  it('prints the effective config with secrets redacted and exits 0', async () => {
    const file = await tempFile('good.json', JSON.stringify({
      admin: { token: '${T}' },
      users: [{ id: 'alice', keys: ['sk-secret'] }],
      services: [{ name: 'f', type: 'forward', listen: '127.0.0.1:2222', targets: ['127.0.0.1:22'], user: 'alice' }],
    }));
    const run = await runCli(['check', '--config', file], { T: 'tok' });
    assert.equal(run.code, 0, run.stderr);
    const printed = JSON.parse(run.stdout) as {
      admin: { token: string }; users: { keys: string[] }[]; services: { connectTimeoutMs: number }[];
    };
    assert.equal(printed.admin.token, '***');
    assert.deepEqual(printed.users[0]!.keys, ['***']);
    assert.equal(printed.services[0]!.connectTimeoutMs, 5000);
    assert.ok(!run.stdout.includes('sk-secret') && !run.stdout.includes('tok"'));
  });

  it('rejects unreadable files, unparsable YAML and bad flags with exit 2', async () => {
    const missing = await runCli(['check', '--config', '/nonexistent/tidegate.yaml']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /TG_ERR_CONFIG_READ: cannot read config \/nonexistent\/tidegate\.yaml: ENOENT/);
    const empty = await runCli(['check', '--config', await tempFile('empty.yaml', '\n  \n')]);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /TG_ERR_CONFIG_READ: config .*empty\.yaml is empty/);
    const broken = await runCli(['check', '--config', await tempFile('broken.yaml', 'services: [ {name: a')]);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /TG_ERR_CONFIG_READ: cannot parse config/);
    const flags = await runCli(['start', '--forward', '80=127.0.0.1:1', '--bogus']);
    assert.equal(flags.code, 2);
    assert.match(flags.stderr, /--forward\[0\]\.listen: expected host:port, got "80"/);
    assert.match(flags.stderr, /unknown option "--bogus"/);
    const command = await runCli(['launch']);
    assert.equal(command.code, 2);
    assert.match(command.stderr, /unknown command "launch"/);
  });
});

describe('tidegate start', () => {
  it('--forward relays, /status reports it, SIGTERM exits 0', async () => {
    const target = await echoServer();
    const adminPort = await freePort();
    const fwdPort = await freePort();
    const tg = startCli(['start', '--forward', `127.0.0.1:${fwdPort}=${target.address}`], {
      TIDEGATE_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
      TIDEGATE_RELAY: 'js',
    });
    try {
      await tg.waitFor('admin API listening');
      const client = await connectTo(fwdPort);
      const echoed = readAll(client);
      client.end('through the quick form');
      assert.equal((await echoed).toString(), 'through the quick form');
      const status = await statusOf(adminPort);
      assert.equal(status.relayEngine, 'js');
      assert.equal(status.services[0]!.name, 'forward-1');
      assert.equal(status.services[0]!.state, 'running');
    } finally {
      tg.child.kill('SIGTERM');
      assert.equal(await tg.exited, 0, tg.output());
      await target.close();
    }
    assert.match(tg.output(), /tidegate stopped/);
  });

  it('a port in use fails the start with a clear error naming the service and address, exit 1', async () => {
    const busy = await listen(() => undefined);
    const file = await tempFile('busy.yaml', 'admin: { listen: off }\nstore: { sqlite: off }\nservices:\n'
      + `  - { name: ssh, type: forward, listen: "127.0.0.1:${busy.port}", targets: [127.0.0.1:22] }\n`);
    const run = await runCli(['start', '--config', file]);
    await busy.close();
    assert.equal(run.code, 1);
    assert.match(
      run.stderr, new RegExp(`TG_ERR_LISTEN: service "ssh" cannot listen on 127\\.0\\.0\\.1:${busy.port}: EADDRINUSE`),
    );
  });

  it('an invalid config starts nothing and exits 2', async () => {
    const file = await tempFile(
      'bad.yaml', 'services:\n  - { name: a, type: forward, listen: "127.0.0.1:0", targets: [] }\n',
    );
    const run = await runCli(['start', '--config', file]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /services\[0\]\.targets: expected at least one target/);
    assert.doesNotMatch(run.stdout, /listening/);
  });
});
