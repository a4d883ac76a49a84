import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RelayRecord } from '../../src/contracts/records.js';
import { connectTo, readBytes } from '../helpers/sockets.js';
import { echoServer } from '../fixtures/tcp.js';
import { eventually } from '../helpers/wait.js';
import { freePortRange, listen, type TestServer } from '../helpers/listen.js';
import { errorCode, rawExchange } from '../helpers/raw-http.js';
import { startManaged, type Managed } from './managed.js';

/** A free run of ports for `admin.portRange` (`:auto` services). */
async function portRange(): Promise<string> {
  const from = await freePortRange(41);
  return `${from}-${from + 40}`;
}

async function echoOnce(port: number, text: string): Promise<void> {
  const client = await connectTo(port);
  client.write(text);
  assert.equal((await readBytes(client, text.length)).toString(), text);
  client.destroy();
}

describe('management API: users', () => {
  let tg: Managed;
  before(async () => {
    tg = await startManaged({ users: [{ id: 'alice', keys: ['alice-key'] }] });
  });
  after(() => tg.stop());

  it('creates, reads, lists, patches with If-Match and deletes a user; file users are read-only', async () => {
    const created = await tg.api('POST', '/users', {
      id: 'bob', quota: { bytes: '1GiB', period: 'monthly' }, rate: { in: '1MiB/s' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.id, 'bob');
    assert.equal(created.body.origin, 'api');
    assert.equal(created.body.config.quota.bytes, 1024 ** 3);
    assert.equal(created.headers.get('location'), '/users/bob');
    const etag = created.headers.get('etag')!;
    assert.match(etag, /^"[^"]+"$/);

    const got = await tg.api('GET', '/users/bob');
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('etag'), etag);
    assert.equal(got.body.config.enabled, true);

    const again = await tg.api('POST', '/users', { id: 'bob' });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'TG_ERR_CONFLICT');

    const patched = await tg.api(
      'PATCH', '/users/bob', { quota: { bytes: '2GiB' }, enabled: false }, { 'if-match': etag },
    );
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.config.quota.bytes, 2 * 1024 ** 3);
    assert.equal(patched.body.config.quota.period, 'monthly');
    assert.equal(patched.body.config.enabled, false);
    assert.notEqual(patched.headers.get('etag'), etag);

    const stale = await tg.api('PATCH', '/users/bob', { enabled: true }, { 'if-match': etag });
    assert.equal(stale.status, 412);
    assert.equal(stale.body.error.code, 'TG_ERR_PRECONDITION_FAILED');

    const list = await tg.api('GET', '/users?limit=1');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.items.map((u: { id: string }) => u.id), ['alice']);
    const next = await tg.api('GET', `/users?limit=1&cursor=${list.body.nextCursor}`);
    assert.deepEqual(next.body.items.map((u: { id: string }) => u.id), ['bob']);
    assert.equal(next.body.nextCursor, null);

    const fileUser = await tg.api('PATCH', '/users/alice', { enabled: false });
    assert.equal(fileUser.status, 409);
    assert.match(fileUser.body.error.message, /config file/);

    const config = await tg.api('GET', '/config');
    assert.equal(config.status, 200);
    assert.deepEqual(config.body.origins.users, { alice: 'file', bob: 'api' });
    assert.deepEqual(config.body.config.users[0].keys, ['***']);
    assert.equal(config.body.config.admin.token, '***');

    const removed = await tg.api('DELETE', '/users/bob');
    assert.equal(removed.status, 200);
    assert.equal((await tg.api('GET', '/users/bob')).status, 404);
  });

  it('answers an invalid user with 422 and every issue by its path, changing nothing', async () => {
    const before = await tg.api('GET', '/config');
    const bad = await tg.api('POST', '/users', {
      id: 'carol', quota: { bytes: 'lots', period: 'weekly' }, rate: { in: 'fast' }, colour: 'red',
    });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.code, 'TG_ERR_INVALID');
    const paths = bad.body.error.issues.map((i: { path: string }) => i.path).sort();
    assert.deepEqual(paths, ['colour', 'quota.bytes', 'quota.period', 'rate.in']);
    assert.deepEqual((await tg.api('GET', '/config')).body, before.body);
    const notJson = await tg.api('POST', '/users', '{"id":');
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body.error.code, 'TG_ERR_BAD_BODY');
    const array = await tg.api('POST', '/users', '[]');
    assert.equal(array.status, 400);
  });

  it('issues a key once, keeps only its hash, and revokes it', async () => {
    assert.equal((await tg.api('POST', '/users', { id: 'dave' })).status, 201);
    const key = await tg.api('POST', '/users/dave/keys', {});
    assert.equal(key.status, 201);
    assert.match(key.body.key, /^tg_/);
    const user = await tg.api('GET', '/users/dave');
    assert.deepEqual(user.body.issuedKeys.map((k: { id: string }) => k.id), [key.body.id]);
    assert.ok(!JSON.stringify(user.body).includes(key.body.key));
    assert.ok(!JSON.stringify((await tg.api('GET', '/config')).body).includes(key.body.key));
    const named = await tg.api('POST', '/users/dave/keys', { id: 'ci' });
    assert.equal(named.body.id, 'ci');
    assert.equal((await tg.api('POST', '/users/dave/keys', { id: 'ci' })).status, 409);
    assert.equal((await tg.api('POST', '/users/nobody/keys', {})).status, 404);
    assert.equal((await tg.api('DELETE', `/users/dave/keys/${key.body.id}`)).status, 200);
    assert.equal((await tg.api('DELETE', `/users/dave/keys/${key.body.id}`)).status, 404);
    const after = await tg.api('GET', '/users/dave');
    assert.deepEqual(after.body.issuedKeys.map((k: { id: string }) => k.id), ['ci']);
    // Keys of a file user are API items too.
    assert.equal((await tg.api('POST', '/users/alice/keys', {})).status, 201);
    // Removing a user removes its keys: a new user of the same id starts with none.
    assert.equal((await tg.api('DELETE', '/users/dave')).status, 200);
    assert.equal((await tg.api('POST', '/users', { id: 'dave' })).status, 201);
    assert.deepEqual((await tg.api('GET', '/users/dave')).body.issuedKeys, []);
    assert.equal((await tg.api('POST', '/users/dave/keys', { id: 'ci' })).status, 201);
  });
});

describe('management API: services', () => {
  let tg: Managed;
  let target: TestServer;
  before(async () => {
    target = await echoServer();
    tg = await startManaged({
      admin: { listen: '127.0.0.1:0', token: 'mgmt-write-token', portRange: await portRange() },
      users: [{ id: 'alice' }],
      services: [{ name: 'file-fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
    });
  });
  after(async () => {
    await tg.stop();
    await target.close();
  });

  it('adds a forward on an :auto port that relays at once, survives a file reload and a restart', async () => {
    const created = await tg.api('POST', '/services', {
      name: 'api-fwd', type: 'forward', listen: '127.0.0.1:auto', targets: [target.address],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.origin, 'api');
    assert.equal(created.body.status.state, 'running');
    const port = Number(created.body.status.listen.split(':').pop());
    const range = (await tg.api('GET', '/config')).body.config.admin.portRange as { from: number; to: number };
    assert.ok(port >= range.from && port <= range.to, `${port} in ${range.from}-${range.to}`);
    await echoOnce(port, 'hello api');

    // A live connection through the API service survives a file reload that changes something else.
    const live = await connectTo(port);
    live.write('a');
    assert.equal((await readBytes(live, 1)).toString(), 'a');
    await tg.writeConfig({
      admin: { listen: tg.runtime.adminAddress(), token: 'mgmt-write-token', portRange: `${range.from}-${range.to}` },
      users: [{ id: 'alice' }, { id: 'erin' }],
      services: [{ name: 'file-fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
    });
    const reload = await tg.api('POST', '/reload');
    assert.equal(reload.status, 200, JSON.stringify(reload.body));
    assert.ok(reload.body.unchanged.includes('api-fwd'));
    live.write('b');
    assert.equal((await readBytes(live, 1)).toString(), 'b');
    live.destroy();
    await echoOnce(port, 'after reload');
    assert.equal((await tg.api('GET', '/config')).body.origins.services['api-fwd'], 'api');

    await tg.restart();
    const after = await tg.api('GET', '/services/api-fwd');
    assert.equal(after.status, 200);
    assert.equal(after.body.status.listen, `127.0.0.1:${port}`);
    await echoOnce(port, 'after restart');
  });

  it('round-trips proxy and gateway services, patches with If-Match and deletes', async () => {
    const proxy = await tg.api('POST', '/services', { name: 'api-proxy', type: 'proxy', listen: '127.0.0.1:auto' });
    assert.equal(proxy.status, 201, JSON.stringify(proxy.body));
    assert.equal(proxy.body.type, 'proxy');
    const gateway = await tg.api('POST', '/services', {
      name: 'api-llm', type: 'gateway', listen: '127.0.0.1:auto',
      channels: [{ name: 'up', baseUrl: `http://${target.address}/v1`, keys: ['sk-up'] }],
    });
    assert.equal(gateway.status, 201, JSON.stringify(gateway.body));
    assert.deepEqual(gateway.body.config.channels[0].keys, ['***']);

    const etag = proxy.headers.get('etag')!;
    const patched = await tg.api('PATCH', '/services/api-proxy', { maxConnections: 5 }, { 'if-match': etag });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.config.maxConnections, 5);
    const stale = await tg.api('PATCH', '/services/api-proxy', { maxConnections: 6 }, { 'if-match': etag });
    assert.equal(stale.status, 412);

    const page = await tg.api('GET', '/services?limit=10');
    const names = page.body.items.map((s: { name: string }) => s.name);
    assert.deepEqual(names, ['api-fwd', 'api-llm', 'api-proxy', 'file-fwd']);
    // Without paging parameters, the array of /status as before.
    const legacy = await tg.api('GET', '/services');
    assert.ok(Array.isArray(legacy.body));

    assert.equal((await tg.api('DELETE', '/services/file-fwd')).status, 409);
    assert.equal((await tg.api('DELETE', '/services/api-proxy')).status, 200);
    assert.equal((await tg.api('DELETE', '/services/api-llm')).status, 200);
    assert.equal((await tg.api('GET', '/services/api-proxy')).status, 404);
  });

  it('answers a taken port with 409 naming it, and an invalid service with 422 by path', async () => {
    const squatter = await listen(() => undefined);
    try {
      const taken = await tg.api('POST', '/services', {
        name: 'squat', type: 'forward', listen: `127.0.0.1:${squatter.port}`, targets: [target.address],
      });
      assert.equal(taken.status, 409);
      assert.match(taken.body.error.message, new RegExp(`127\\.0\\.0\\.1:${squatter.port}`));
      assert.equal((await tg.api('GET', '/services/squat')).status, 404);
    } finally {
      await squatter.close();
    }
    const bad = await tg.api('POST', '/services', {
      name: 'bad one', type: 'forward', listen: 'nowhere', targets: [], user: 'ghost',
    });
    assert.equal(bad.status, 422);
    const paths = bad.body.error.issues.map((i: { path: string }) => i.path).sort();
    assert.deepEqual(paths, ['listen', 'name', 'targets', 'user']);
  });

  it('closes a removed user\'s live connections and records user_removed', async () => {
    assert.equal((await tg.api('POST', '/users', { id: 'frank' })).status, 201);
    const svc = await tg.api('POST', '/services', {
      name: 'frank-fwd', type: 'forward', listen: '127.0.0.1:auto', user: 'frank', targets: [target.address],
    });
    assert.equal(svc.status, 201);
    const port = Number(svc.body.status.listen.split(':').pop());
    const records: RelayRecord[] = [];
    tg.runtime.onRelayClosed((r) => records.push(r));
    const client = await connectTo(port);
    client.write('x');
    assert.equal((await readBytes(client, 1)).toString(), 'x');
    // The service uses the user: removing the user alone is invalid, so the service goes first.
    const refused = await tg.api('DELETE', '/users/frank');
    assert.equal(refused.status, 422);
    assert.match(JSON.stringify(refused.body.error.issues), /unknown user/);
    await tg.api('PATCH', '/services/frank-fwd', { user: null });
    const removed = await tg.api('DELETE', '/users/frank');
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    assert.equal(removed.body.closed, 1);
    await eventually(() => client.readableEnded, 5_000, 'the relay closed');
    client.destroy();
    const removedRecord = (): boolean => records.some((r) => r.service === 'frank-fwd' && r.reason === 'user_removed');
    await eventually(removedRecord, 5_000, 'a user_removed record');
    await tg.api('DELETE', '/services/frank-fwd');
  });
});

describe('management API: roles', () => {
  it('lets a read token read and refuses it every change with 403', async () => {
    const tokens = [{ token: 'reader', role: 'read' }, { token: 'writer', role: 'write' }];
    const tg = await startManaged({ admin: { listen: '127.0.0.1:0', tokens } }, 'reader');
    try {
      assert.equal((await tg.api('GET', '/users')).status, 200);
      const post = await tg.api('POST', '/users', { id: 'x' });
      assert.equal(post.status, 403);
      assert.equal(post.body.error.code, 'TG_ERR_FORBIDDEN');
      assert.equal((await tg.api('POST', '/reload')).status, 403);
      const writer = await fetch(`${tg.base}/users`, {
        method: 'POST', headers: { authorization: 'Bearer writer' }, body: '{"id":"x"}',
      });
      assert.equal(writer.status, 201);
      assert.equal((await fetch(`${tg.base}/users`, { headers: { authorization: 'Bearer nope' } })).status, 401);
    } finally {
      await tg.stop();
    }
  });
});

describe('management API: hardening of body routes', () => {
  it('refuses an oversized body with 413, cuts an endless one, and keeps serving', async () => {
    const tg = await startManaged({});
    try {
      const port = Number(tg.runtime.adminAddress()!.split(':').pop());
      const auth = 'authorization: Bearer mgmt-write-token\r\n';
      const declared = await rawExchange(
        port, `POST /users HTTP/1.1\r\nhost: x\r\n${auth}content-length: ${10 * 1024 * 1024}\r\n\r\n`,
      );
      assert.equal(declared.status, 413);
      assert.equal(errorCode(declared), 'TG_ERR_ADMIN_BODY_TOO_LARGE');
      const big = `{"id":"${'a'.repeat(70 * 1024)}"}`;
      const chunk = `${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`;
      const head = `POST /users HTTP/1.1\r\nhost: x\r\n${auth}transfer-encoding: chunked\r\n\r\n`;
      const chunked = await rawExchange(port, `${head}${chunk}`);
      assert.equal(chunked.status, 413);
      const unauthenticated = await rawExchange(
        port, 'POST /users HTTP/1.1\r\nhost: x\r\ncontent-length: 12\r\n\r\n{"id":"zed"}',
      );
      assert.equal(unauthenticated.status, 401);
      assert.equal((await tg.api('GET', '/users/zed')).status, 404);
      assert.equal((await tg.api('POST', '/users', { id: 'ok' })).status, 201);
    } finally {
      await tg.stop();
    }
  });
});

describe('management API: usage reset', () => {
  it('starts the current quota period from zero, durably', async () => {
    const target = await echoServer();
    const tg = await startManaged({
      users: [{ id: 'r', quota: { bytes: '1MiB', period: 'monthly' } }],
      services: [{ name: 'r-fwd', type: 'forward', listen: '127.0.0.1:0', user: 'r', targets: [target.address] }],
    });
    try {
      const port = Number(tg.runtime.status().services.find((s) => s.name === 'r-fwd')!.listen.split(':').pop());
      await echoOnce(port, 'x'.repeat(1000));
      const used = async (): Promise<number> => (await tg.api('GET', '/users/r/usage')).body.quota.used as number;
      await eventually(async () => (await used()) >= 2000, 5_000, 'usage counted');
      await tg.runtime.accounting.flush();
      const reset = await tg.api('POST', '/users/r/usage/reset');
      assert.equal(reset.status, 200, JSON.stringify(reset.body));
      assert.equal(reset.body.quota.used, 0);
      assert.equal((await tg.api('POST', '/users/nobody/usage/reset')).status, 404);
      await tg.restart();
      assert.equal((await tg.api('GET', '/users/r/usage')).body.quota.used, 0);
    } finally {
      await tg.stop();
      await target.close();
    }
  });
});

describe('management API: a name in the file and the API', () => {
  it('is a conflict reported with its file path; the file wins; the API item returns once the file drops it',
    async () => {
      const tg = await startManaged({ users: [{ id: 'amy' }] });
      try {
        assert.equal((await tg.api('POST', '/users', { id: 'zoe', quota: { bytes: '1GiB' } })).status, 201);
        const admin = { listen: tg.runtime.adminAddress(), token: 'mgmt-write-token' };
        await tg.writeConfig({ admin, users: [{ id: 'amy' }, { id: 'zoe' }] });
        assert.equal((await tg.api('POST', '/reload')).status, 200);
        const view = (await tg.api('GET', '/config')).body;
        assert.equal(view.origins.users.zoe, 'file');
        type Conflict = { kind: string; name: string; path: string };
        const conflicts = view.conflicts.map((c: Conflict) => [c.kind, c.name, c.path]);
        assert.deepEqual(conflicts, [['user', 'zoe', 'users[1]']]);
        assert.equal((await tg.api('GET', '/users/zoe')).body.config.quota, null);
        assert.equal((await tg.api('PATCH', '/users/zoe', { enabled: false })).status, 409);
        await tg.writeConfig({ admin, users: [{ id: 'amy' }] });
        assert.equal((await tg.api('POST', '/reload')).status, 200);
        const back = (await tg.api('GET', '/config')).body;
        assert.equal(back.origins.users.zoe, 'api');
        assert.deepEqual(back.conflicts, []);
        assert.equal((await tg.api('GET', '/users/zoe')).body.config.quota.bytes, 1024 ** 3);
      } finally {
        await tg.stop();
      }
    });
});
