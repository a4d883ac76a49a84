import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { echoServer } from '../fixtures/tcp.js';
import { freePortRange, listen, type TestServer } from '../helpers/listen.js';
import { connectTo, readBytes } from '../helpers/sockets.js';
import { startManaged, TOKEN, type Managed } from './managed.js';

/** The port of a `status.listen` text or of a validated `config.listen` ({ host, port }). */
function portOf(listen: string | { port: number }): number {
  return typeof listen === 'string' ? Number(listen.split(':').pop()) : listen.port;
}

describe('management API: :auto listens from the user\'s own ports', () => {
  let tg: Managed;
  let target: TestServer;
  let blocker: TestServer;
  let userFrom: number;
  let adminFrom: number;
  before(async () => {
    target = await echoServer();
    userFrom = await freePortRange(21);
    adminFrom = await freePortRange(41);
    // The one port of bob's range is taken by someone else.
    blocker = await listen((s) => s.destroy());
    tg = await startManaged({
      admin: { listen: '127.0.0.1:0', token: TOKEN, portRange: `${adminFrom}-${adminFrom + 40}` },
      users: [
        { id: 'alice', ports: `${userFrom}-${userFrom + 20}` },
        { id: 'bob', ports: `${blocker.port}-${blocker.port}` },
        { id: 'carol' },
      ],
    });
  });
  after(async () => {
    await tg.stop();
    await blocker.close();
    await target.close();
  });

  it('takes a port of the service user\'s range, and admin.portRange for a user without one', async () => {
    const inRange = (port: number, from: number, to: number): boolean => port >= from && port <= to;
    const a1 = await tg.api('POST', '/services', {
      name: 'a1', type: 'forward', listen: '127.0.0.1:auto', user: 'alice', targets: [target.address],
    });
    assert.equal(a1.status, 201, JSON.stringify(a1.body));
    const p1 = portOf(a1.body.config.listen);
    assert.ok(inRange(p1, userFrom, userFrom + 20), `${p1} in alice's ports`);
    assert.equal(portOf(a1.body.status.listen), p1);
    // The next one of hers takes another port of her range, never the one her first service holds.
    const a2 = await tg.api('POST', '/services', {
      name: 'a2', type: 'forward', listen: '127.0.0.1:auto', user: 'alice', targets: [target.address],
    });
    assert.equal(a2.status, 201, JSON.stringify(a2.body));
    const p2 = portOf(a2.body.config.listen);
    assert.ok(inRange(p2, userFrom, userFrom + 20) && p2 !== p1, `${p2} in alice's ports, not ${p1}`);
    // It relays at once.
    const client = await connectTo(p2);
    client.write('ping');
    assert.equal((await readBytes(client, 4)).toString(), 'ping');
    client.destroy();
    const c = await tg.api('POST', '/services', {
      name: 'c1', type: 'forward', listen: '127.0.0.1:auto', user: 'carol', targets: [target.address],
    });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    assert.ok(inRange(portOf(c.body.config.listen), adminFrom, adminFrom + 40), 'carol has no ports: admin.portRange');
    // A PATCH that asks for :auto again moves the service within the user's range.
    const etag = (await tg.api('GET', '/services/a1')).headers.get('etag')!;
    const moved = await tg.api('PATCH', '/services/a1', { listen: '127.0.0.1:auto' }, { 'if-match': etag });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.ok(inRange(portOf(moved.body.config.listen), userFrom, userFrom + 20));
  });

  it('answers 409 naming the user\'s range when none of its ports is free, changing nothing', async () => {
    const before = tg.runtime.config.services.length;
    const res = await tg.api('POST', '/services', {
      name: 'b1', type: 'forward', listen: '127.0.0.1:auto', user: 'bob', targets: [target.address],
    });
    assert.equal(res.status, 409, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'TG_ERR_CONFLICT');
    assert.match(res.body.error.message, new RegExp(`ports of user "bob" ${blocker.port}-${blocker.port}`));
    assert.equal(tg.runtime.config.services.length, before);
  });

  it('refuses a malformed ports range with 422 by its path', async () => {
    const res = await tg.api('POST', '/users', { id: 'dave', ports: '9000-8000' });
    assert.equal(res.status, 422);
    assert.deepEqual(res.body.error.issues.map((i: { path: string }) => i.path), ['ports']);
    const wrongType = await tg.api('POST', '/users', { id: 'dave', ports: 9000 });
    assert.equal(wrongType.status, 422);
    assert.deepEqual(wrongType.body.error.issues.map((i: { path: string }) => i.path), ['ports']);
  });
});
