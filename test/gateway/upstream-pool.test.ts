import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from 'undici';
import { UpstreamPool, type PooledHandler } from '../../src/gateway/upstream/upstream-pool.js';
import { listenHttp, type TestHttpServer } from '../helpers/listen.js';

/** A handler that collects its answer and gives its client back the way Attempt does. */
class Collector implements PooledHandler {
  upstreamClient: Client | null = null;
  abandonReason: Error | null = null;
  status = 0;
  body = '';
  error: Error | null = null;
  readonly done: Promise<void>;
  private finish!: () => void;
  constructor(private readonly pool: UpstreamPool) {
    this.done = new Promise((resolve) => { this.finish = resolve; });
  }
  onConnect(): void {}
  onHeaders(status: number): boolean {
    this.status = status;
    return true;
  }
  onData(chunk: Buffer): boolean {
    this.body += chunk.toString();
    return true;
  }
  onComplete(): void {
    this.release();
    this.finish();
  }
  onError(err: Error): void {
    this.release();
    this.error = err;
    this.finish();
  }
  private release(): void {
    const c = this.upstreamClient;
    this.upstreamClient = null;
    if (c !== null) this.pool.release(c);
  }
}

describe('gateway: a channel\'s upstream connections', () => {
  let server: TestHttpServer;
  let origin: string;
  const sockets = new Set<unknown>();
  let running = 0;
  let maxRunning = 0;
  const order: string[] = [];
  before(async () => {
    server = await listenHttp((req, res) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      order.push(req.url!);
      setTimeout(() => {
        running--;
        res.end(`answer ${req.url}`);
      }, 40);
    });
    server.server.on('connection', (s) => sockets.add(s));
    origin = server.origin;
  });
  after(() => server.close());

  function send(pool: UpstreamPool, path: string): Collector {
    const c = new Collector(pool);
    pool.dispatch({ path, method: 'GET' }, c);
    return c;
  }

  it('never opens more than `connections`; requests beyond wait and go in arrival order; '
    + 'connections are reused', async () => {
    sockets.clear();
    maxRunning = 0;
    order.length = 0;
    const pool = new UpstreamPool(origin, { connections: 2, keepAliveTimeoutMs: 30_000, connectTimeoutMs: 2000 });
    const first = Array.from({ length: 6 }, (_, i) => send(pool, `/r${i}`));
    assert.equal(pool.queued, 4);
    await Promise.all(first.map((c) => c.done));
    for (let i = 0; i < 6; i++) {
      assert.deepEqual([first[i]!.status, first[i]!.body, first[i]!.error], [200, `answer /r${i}`, null]);
    }
    assert.equal(maxRunning, 2);
    assert.deepEqual(order, ['/r0', '/r1', '/r2', '/r3', '/r4', '/r5']);
    const second = Array.from({ length: 3 }, (_, i) => send(pool, `/s${i}`));
    await Promise.all(second.map((c) => c.done));
    assert.equal(sockets.size, 2, 'the same two connections served all nine requests');
    await pool.close();
  });

  it('drops a waiting request given up by its caller; close() lets the others finish first', async () => {
    order.length = 0;
    const pool = new UpstreamPool(origin, { connections: 1, keepAliveTimeoutMs: 30_000, connectTimeoutMs: 2000 });
    const a = send(pool, '/a');
    const b = send(pool, '/b');
    const c = send(pool, '/c');
    b.abandonReason = new Error('first byte timeout');
    const closed = pool.close();
    await Promise.all([a.done, c.done, closed]);
    assert.deepEqual(order, ['/a', '/c'], 'the abandoned request never reached the upstream');
    assert.deepEqual([a.status, c.status], [200, 200]);
    const late = send(pool, '/late');
    await late.done;
    assert.match(String(late.error?.message), /closed/);
  });

  it('destroy() answers waiting requests with an error at once', async () => {
    const pool = new UpstreamPool(origin, { connections: 1, keepAliveTimeoutMs: 30_000, connectTimeoutMs: 2000 });
    const a = send(pool, '/d1');
    const b = send(pool, '/d2');
    await pool.destroy();
    await Promise.all([a.done, b.done]);
    assert.match(String(b.error?.message), /destroyed/);
    assert.ok(a.error !== null, 'the running request failed too');
  });
});
