import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { connectTo, readAll } from '../helpers/sockets.js';
import { availableEngines, startTidegate } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

/** Whether this machine has an IPv6 loopback to test on. */
async function hasIpv6Loopback(): Promise<boolean> {
  const probe = createServer();
  try {
    probe.listen(0, '::1');
    await once(probe, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    probe.close();
  }
}

for (const engine of availableEngines()) {
  describe(`relay (${engine.kind}): IPv6`, () => {
    it('listens on [::1] and forwards to an IPv6 target', async (t) => {
      if (!(await hasIpv6Loopback())) {
        t.skip('no IPv6 loopback on this machine');
        return;
      }
      const target = createServer((s) => s.pipe(s));
      target.listen(0, '::1');
      await once(target, 'listening');
      const port = (target.address() as AddressInfo).port;
      const tg = await startTidegate({
        services: [{ name: 'v6', type: 'forward', listen: '[::1]:0', targets: [`[::1]:${port}`] }],
      }, { engine });
      try {
        assert.match(tg.status('v6').listen, /^\[::1\]:\d+$/);
        const client = await connectTo(tg.port('v6'), '::1');
        const echoed = readAll(client);
        client.end('over IPv6');
        assert.equal((await echoed).toString(), 'over IPv6');
        await eventually(() => tg.records.length === 1, 5_000, 'record');
        assert.equal(tg.records[0]!.bytesIn, 9);
        assert.equal(tg.records[0]!.target, `[::1]:${port}`);
        assert.match(tg.records[0]!.client, /^::1:\d+$/);
      } finally {
        await tg.stop();
        target.close();
      }
    });
  });
}
