import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { connectTo, readBytes } from '../helpers/sockets.js';
import { echoServer } from '../fixtures/tcp.js';
import { freePort, freePortRange, type TestServer } from '../helpers/listen.js';
import { startManaged, TOKEN, type Managed } from './managed.js';

describe('tidegate users|keys|services against a running instance', () => {
  let tg: Managed;
  let target: TestServer;
  let flags: string[];
  before(async () => {
    target = await echoServer();
    const from = await freePortRange(21);
    tg = await startManaged({ admin: { listen: '127.0.0.1:0', token: TOKEN, portRange: `${from}-${from + 20}` } });
    flags = ['--admin', tg.base, '--token', TOKEN];
  });
  after(async () => {
    await tg.stop();
    await target.close();
  });

  it('adds, lists, shows and removes users; issues and revokes keys; tables for people, --json for scripts',
    async () => {
      const add = await runCli([
        'users', 'add', 'gina', '--quota', '5GiB', '--period', 'monthly', '--rate-in', '1MiB/s', ...flags,
      ]);
      assert.equal(add.code, 0, add.stderr);
      assert.match(add.stdout, /^ID\s+ORIGIN\s+ENABLED\s+QUOTA/);
      assert.match(add.stdout, /gina\s+api\s+yes\s+5GiB\s+monthly/);

      const list = await runCli(['users', 'list', '--json', ...flags]);
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual((JSON.parse(list.stdout) as { id: string }[]).map((u) => u.id), ['gina']);

      const key = await runCli(['keys', 'add', 'gina', '--id', 'laptop', '--json', ...flags]);
      assert.equal(key.code, 0, key.stderr);
      const issued = JSON.parse(key.stdout) as { id: string; key: string };
      assert.equal(issued.id, 'laptop');
      assert.match(issued.key, /^tg_/);

      const show = await runCli(['users', 'show', 'gina', ...flags]);
      assert.equal(show.code, 0, show.stderr);
      assert.match(show.stdout, /quota: 0B of 5GiB used this period/);
      assert.ok(!show.stdout.includes(issued.key));

      assert.equal((await runCli(['keys', 'rm', 'gina', 'laptop', ...flags])).code, 0);
      const rm = await runCli(['users', 'rm', 'gina', ...flags]);
      assert.equal(rm.code, 0, rm.stderr);
      assert.match(rm.stdout, /removed user gina/);

      const missing = await runCli(['users', 'show', 'gina', ...flags]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /TG_ERR_ADMIN_CLIENT.*404 TG_ERR_NOT_FOUND/);
      const invalid = await runCli(['users', 'add', 'hal', '--quota', 'lots', ...flags]);
      assert.equal(invalid.code, 1);
      assert.match(invalid.stderr, /422 TG_ERR_INVALID[\s\S]*quota\.bytes: expected a size/);
      const noToken = await runCli(['users', 'list', '--admin', tg.base]);
      assert.match(noToken.stderr, /401 TG_ERR_UNAUTHORIZED/);
      const usage = await runCli(['users', 'frobnicate', ...flags]);
      assert.equal(usage.code, 2);
    });

  it('adds a forward on an :auto port that relays, lists and removes it', async () => {
    const add = await runCli([
      'services', 'add', 'cli-fwd', '--type', 'forward', '--listen', '127.0.0.1:auto', '--target', target.address,
      '--json', ...flags,
    ]);
    assert.equal(add.code, 0, add.stderr);
    const service = JSON.parse(add.stdout) as { status: { listen: string } };
    const client = await connectTo(Number(service.status.listen.split(':').pop()));
    client.write('via cli');
    assert.equal((await readBytes(client, 7)).toString(), 'via cli');
    client.destroy();
    const list = await runCli(['services', 'list', ...flags]);
    assert.match(list.stdout, /cli-fwd\s+forward\s+api\s+127\.0\.0\.1:\d+\s+running/);
    assert.equal((await runCli(['services', 'rm', 'cli-fwd', ...flags])).code, 0);
    const unreachable = await runCli(['services', 'list', '--admin', `http://127.0.0.1:${await freePort()}`]);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot reach the admin API/);
  });
});
