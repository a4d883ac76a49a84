import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { echoServer } from '../fixtures/tcp.js';
import { followSse } from '../helpers/sse.js';
import { eventually } from '../helpers/wait.js';
import { freePort, freePortRange, type TestServer } from '../helpers/listen.js';
import { startManaged, TOKEN, type Managed } from './managed.js';

describe('GET /events', () => {
  let tg: Managed;
  let target: TestServer;
  before(async () => {
    target = await echoServer();
    const from = await freePortRange(21);
    tg = await startManaged({
      admin: { listen: '127.0.0.1:0', token: TOKEN, portRange: `${from}-${from + 20}` },
      users: [{ id: 'q', quota: { bytes: 10 } }],
    });
  });
  after(async () => {
    await tg.stop();
    await target.close();
  });

  it('streams reloads, service state, target up/down, key creation and quota cuts', async () => {
    const sub = await followSse(`${tg.base}/events`, TOKEN);
    assert.equal(sub.res.statusCode, 200);
    assert.match(String(sub.res.headers['content-type']), /text\/event-stream/);
    assert.equal(tg.runtime.events.size, 1);
    // A target that is down at first: the forward marks it down on the first failed connect.
    const deadPort = await freePort();
    const svc = await tg.api('POST', '/services', {
      name: 'ev-fwd', type: 'forward', listen: '127.0.0.1:auto', user: 'q',
      targets: [`127.0.0.1:${deadPort}`, target.address], strategy: 'failover',
    });
    assert.equal(svc.status, 201, JSON.stringify(svc.body));
    await tg.api('POST', '/users/q/keys', {});
    const port = Number(svc.body.status.listen.split(':').pop());
    const { connectTo } = await import('../helpers/sockets.js');
    const client = await connectTo(port);
    client.on('error', () => undefined);
    client.write('more than ten bytes of traffic');
    await eventually(() => sub.events.some((e) => e.event === 'quota'), 10_000, 'a quota event');
    client.destroy();
    const down = (): boolean => sub.events.some((e) => e.event === 'target' && e.data.up === false);
    await eventually(down, 10_000, 'a target down event');
    const kinds = new Set(sub.events.map((e) => e.event));
    for (const kind of ['reload', 'key', 'quota', 'target']) {
      assert.ok(kinds.has(kind), `${kind} in ${[...kinds].join(',')}`);
    }
    const quota = sub.events.find((e) => e.event === 'quota')!;
    assert.equal(quota.data.user, 'q');
    assert.equal(quota.data.reason, 'quota_exceeded');
    sub.close();
    await eventually(() => tg.runtime.events.size === 0, 5_000, 'the subscriber is gone');
    const again = await followSse(`${tg.base}/events`, TOKEN);
    await tg.api('DELETE', '/services/ev-fwd');
    const stopped = (): boolean => again.events.some(
      (e) => e.event === 'service' && e.data.service === 'ev-fwd' && e.data.change === 'stopped',
    );
    await eventually(stopped, 10_000, 'service stopped');
    again.close();
    await eventually(() => tg.runtime.events.size === 0, 5_000, 'the subscriber is gone');
  });

  it('drops a subscriber that does not read, and keeps serving the rest', async () => {
    const slow = await followSse(`${tg.base}/events`, TOKEN);
    slow.res.pause();
    const fast = await followSse(`${tg.base}/events`, TOKEN);
    const big = 'x'.repeat(16 * 1024);
    for (let i = 0; i < 400 && tg.runtime.events.dropped === 0; i++) {
      tg.runtime.publish('test', { big });
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(tg.runtime.events.dropped >= 1);
    assert.equal(tg.runtime.events.size, 1);
    assert.equal((await tg.api('GET', '/status')).status, 200);
    fast.close();
    slow.close();
  });
});
