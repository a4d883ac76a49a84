import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { echoServer } from '../fixtures/tcp.js';
import { testConfig } from '../helpers/tidegate.js';

describe('admin API', () => {
  it('serves /status and /services behind a bearer token, with JSON errors', async () => {
    const target = await echoServer();
    const config = testConfig({
      admin: { listen: '127.0.0.1:0', token: 'sekret' },
      services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
    });
    const runtime = await Runtime.start(config, { log: createLogger('silent') });
    const base = `http://${runtime.adminAddress()}`;
    const auth = { authorization: 'Bearer sekret' };
    try {
      const anonymous = await fetch(`${base}/status`);
      assert.equal(anonymous.status, 401);
      assert.deepEqual(
        await anonymous.json(), { error: { code: 'TG_ERR_UNAUTHORIZED', message: 'missing or wrong bearer token' } },
      );
      assert.equal((await fetch(`${base}/status`, { headers: { authorization: 'Bearer wrong!' } })).status, 401);

      const res = await fetch(`${base}/status`, { headers: auth });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type')!, /application\/json/);
      const status = (await res.json()) as Record<string, unknown> & { services: Record<string, unknown>[] };
      assert.equal(typeof status.version, 'string');
      assert.equal(typeof status.uptimeSeconds, 'number');
      assert.ok(status.relayEngine === 'js' || status.relayEngine === 'native');
      const svc = status.services[0]!;
      assert.equal(svc.name, 'fwd');
      assert.equal(svc.type, 'forward');
      assert.equal(svc.state, 'running');
      assert.match(svc.listen as string, /^127\.0\.0\.1:\d+$/);
      assert.deepEqual(svc.connections, { live: 0, total: 0, refused: 0 });
      assert.deepEqual(svc.bytes, { in: 0, out: 0 });

      const services = (await (await fetch(`${base}/services`, { headers: auth })).json()) as { name: string }[];
      assert.deepEqual(services.map((s) => s.name), ['fwd']);

      const missing = await fetch(`${base}/nope`, { headers: auth });
      assert.equal(missing.status, 404);
      assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'TG_ERR_NOT_FOUND');
      const wrongMethod = await fetch(`${base}/status`, { method: 'POST', headers: auth });
      assert.equal(wrongMethod.status, 405);
      const noSource = await fetch(`${base}/reload`, { method: 'POST', headers: auth });
      assert.equal(noSource.status, 422);
    } finally {
      await runtime.shutdown();
      await target.close();
    }
  });
});
