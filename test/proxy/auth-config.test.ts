import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { documentToConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { FailureThrottle } from '../../src/relay/proxy/auth/failure-throttle.js';
import { parseBasic } from '../../src/relay/proxy/auth/basic.js';
import { runCli } from '../helpers/cli.js';

const HASH = 'scrypt$1024$8$1$c2FsdHNhbHRzYWx0$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXowMTIzNDU=';

function problems(doc: Record<string, unknown>): string[] {
  try {
    documentToConfig({ admin: { listen: 'off' }, store: { sqlite: 'off' }, ...doc }, 'test');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return (err as ConfigError).message.split('\n').slice(1).map((l) => l.trim());
  }
  return [];
}

describe('proxy logins: config', () => {
  it('reports every bad login with its path and never echoes a password', () => {
    const found = problems({
      users: [
        { id: 'a', proxy: { username: 'alice', password: 'pw' } },
        { id: 'b', proxy: { username: 'alice', password: '' } },
        { id: 'c', proxy: { username: 'c:d', password: 'secret-one', passwordHash: HASH } },
        { id: 'd', proxy: { username: 'd' } },
        { id: 'e', proxy: { username: 'e', passwordHash: 'scrypt$1000$8$1$c2FsdA==$aGFzaA==' } },
        { id: 'f', proxy: { username: 'f', password: 'x', extra: 1 } },
      ],
      services: [
        { name: 'p', type: 'proxy', listen: '127.0.0.1:1080', auth: 'users', user: 'a' },
        { name: 'q', type: 'proxy', listen: '127.0.0.1:1081', auth: 'everyone' },
      ],
    });
    const text = found.join('\n');
    assert.match(text, /users\[1\]\.proxy\.username: username is already used by user "a"/);
    assert.match(text, /users\[1\]\.proxy\.password: expected a non-empty string/);
    assert.match(text, /users\[2\]\.proxy\.username: expected 1-255 bytes without ":"/);
    assert.match(text, /users\[2\]\.proxy: expected password or passwordHash, not both/);
    assert.match(text, /users\[3\]\.proxy\.password: expected a password \(or a passwordHash\), got nothing/);
    assert.match(text, /users\[4\]\.proxy\.passwordHash: expected scrypt\$N\$r\$p\$salt\$hash.*N is 1000/);
    assert.match(text, /users\[5\]\.proxy\.extra: unknown key/);
    assert.match(text, /services\[0\]\.user: a proxy with auth: users charges each client's own user/);
    assert.match(text, /services\[1\]\.auth: expected one of "none", "users"/);
    assert.ok(!text.includes('secret-one'));
  });

  it('auth: users needs logins, and makes a non-loopback proxy no open proxy', () => {
    assert.match(problems({ services: [{ name: 'p', type: 'proxy', listen: '127.0.0.1:1080', auth: 'users' }] }).join('\n'), /services\[0\]\.auth: auth: users needs at least one users\[\]\.proxy login/);
    const users = [{ id: 'a', proxy: { username: 'a', passwordHash: HASH } }];
    const open = { name: 'p', type: 'proxy', listen: '0.0.0.0:1080', auth: 'users' };
    assert.deepEqual(problems({ users, services: [open] }), []);
    assert.match(problems({ users, services: [{ name: 'p', type: 'proxy', listen: '0.0.0.0:1080' }] }).join('\n'), /services\[0\]\.listen: a proxy on 0\.0\.0\.0:1080/);
  });

  it('tidegate check redacts passwords and hashes (exit 0) and names bad ones (exit 2)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tidegate-auth-'));
    const good = join(dir, 'good.json');
    await writeFile(good, JSON.stringify({
      users: [
        { id: 'a', proxy: { username: 'alice', password: 'clear-secret' } },
        { id: 'b', proxy: { username: 'bob', passwordHash: HASH } },
      ],
      services: [{ name: 'p', type: 'proxy', listen: '127.0.0.1:1080', auth: 'users' }],
    }));
    const run = await runCli(['check', '--config', good]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!run.stdout.includes('clear-secret') && !run.stdout.includes(HASH.split('$')[5]!));
    const printed = JSON.parse(run.stdout) as { users: { proxy: { username: string; password: string } }[] };
    assert.equal(printed.users[0]!.proxy.username, 'alice');
    assert.equal(printed.users[0]!.proxy.password, '***');
    const bad = join(dir, 'bad.json');
    const users = [
      { id: 'a', proxy: { username: 'a', password: 'p' } },
      { id: 'b', proxy: { username: 'b', password: 7 } },
    ];
    await writeFile(bad, JSON.stringify({ users }));
    const failed = await runCli(['check', '--config', bad]);
    assert.equal(failed.code, 2);
    assert.match(failed.stderr, /users\[1\]\.proxy\.password: expected a non-empty string/);
  });
});

describe('proxy logins: parts', () => {
  it('Basic: missing, another scheme, bad base64, no colon are refusals; a password may hold colons', () => {
    const parsed = parseBasic(`Basic ${Buffer.from('al:ice:pw').toString('base64')}`);
    assert.deepEqual(parsed, { username: 'al', password: 'ice:pw' });
    for (const bad of [undefined, '', 'Bearer x', 'Basic %%%', 'Basic YWJj', 'Basic YW Jj']) {
      const refused = (err: Error & { code?: string }): boolean => err.code === 'TG_ERR_PROXY_AUTH';
      assert.throws(() => parseBasic(bad), refused, String(bad));
    }
  });

  it('failures per address: free at first, then a doubling delay up to a bound; success starts over', () => {
    const t = new FailureThrottle();
    const delays = Array.from({ length: 12 }, () => t.failure('10.0.0.1', 1_000));
    assert.deepEqual(delays.slice(0, 3), [0, 0, 0]);
    assert.deepEqual(delays.slice(3, 6), [250, 500, 1000]);
    assert.equal(Math.max(...delays), 8000);
    assert.equal(t.failure('10.0.0.2', 1_000), 0, 'another address is not slowed');
    t.success('10.0.0.1');
    assert.equal(t.failure('10.0.0.1', 1_000), 0);
    assert.equal(t.failure('10.0.0.3', 1_000), 0);
    assert.equal(t.failed, 15);
    assert.equal(t.slowed, 9);
  });
});
