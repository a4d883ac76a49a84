import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { echoServer } from '../fixtures/tcp.js';
import type { TestServer } from '../helpers/listen.js';
import { connectTo, readBytes } from '../helpers/sockets.js';
import { followSse, type SseEvent } from '../helpers/sse.js';
import { eventually } from '../helpers/wait.js';
import { startManaged, type Managed } from '../admin/managed.js';

type Frame = SseEvent<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const WRITE = 'stats-write';
const READ = 'stats-read';

describe('GET /stats/stream and GET /session', () => {
  let tg: Managed;
  let target: TestServer;
  before(async () => {
    target = await echoServer();
    tg = await startManaged({
      admin: { listen: '127.0.0.1:0', token: WRITE, tokens: [{ token: READ, role: 'read' }] },
      services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
    }, WRITE);
  });
  after(async () => {
    await tg.stop();
    await target.close();
  });

  it('tells each token its role', async () => {
    for (const [token, role] of [[WRITE, 'write'], [READ, 'read']] as const) {
      const res = await fetch(`${tg.base}/session`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200);
      const body = await res.json() as { role: string; version: string };
      assert.equal(body.role, role);
      assert.equal(typeof body.version, 'string');
    }
    assert.equal((await fetch(`${tg.base}/session`)).status, 401);
    assert.equal((await fetch(`${tg.base}/session`, { headers: { authorization: 'Bearer nope' } })).status, 401);
  });

  it('streams a sample a second with the live counters, keeps history, and stops when nobody listens', async () => {
    assert.equal(tg.runtime.stats.size, 0);
    const stream = await followSse<Frame['data']>(`${tg.base}/stats/stream`, READ);
    assert.equal(stream.res.statusCode, 200);
    assert.match(String(stream.res.headers['content-type']), /text\/event-stream/);
    await eventually(() => stream.events.length >= 2, 10_000, 'history and a first sample');
    assert.equal(stream.events[0]!.event, 'history');
    assert.deepEqual(stream.events[0]!.data, { periodMs: 1000, samples: [] });
    const first = stream.events[1]!;
    assert.equal(first.event, 'stats');
    assert.deepEqual(first.data.sample.services.fwd, [0, 0, 0, 0]);
    assert.equal(first.data.detail.services[0].name, 'fwd');
    assert.equal(typeof first.data.sample.t, 'number');

    const port = Number(tg.runtime.status().services[0]!.listen.split(':').pop());
    const client = await connectTo(port);
    client.write('x'.repeat(1000));
    await readBytes(client, 1000);
    const live = (): Frame | undefined => stream.events.find((f) => f.event === 'stats'
      && f.data.sample.services.fwd[0] === 1 && f.data.sample.services.fwd[1] === 1000);
    await eventually(() => live() !== undefined, 10_000, 'a sample with the live connection and its bytes');
    assert.equal(live()!.data.sample.services.fwd[2], 1000);
    client.destroy();
    stream.close();
    await eventually(() => tg.runtime.stats.size === 0, 10_000, 'the subscriber gone');

    // A new subscriber gets what was sampled so far at once.
    const again = await followSse<Frame['data']>(`${tg.base}/stats/stream`, WRITE);
    await eventually(() => again.events.length >= 1, 10_000, 'history');
    const history = again.events[0]!;
    assert.equal(history.event, 'history');
    assert.ok(history.data.samples.length >= 2, `${history.data.samples.length} samples`);
    assert.ok(history.data.samples.some((s: { services: { fwd: number[] } }) => s.services.fwd[1] === 1000));
    again.close();
    await eventually(() => tg.runtime.stats.size === 0, 10_000, 'the subscriber gone');
  });

  it('needs a token like every endpoint', async () => {
    assert.equal((await fetch(`${tg.base}/stats/stream`)).status, 401);
  });
});
