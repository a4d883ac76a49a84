import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { connectTo, eventually, listen, readBytes, readLine, taggedServer } from '../helpers/servers.js';
import { startTidegate } from '../helpers/tidegate.js';

describe('hot reload', () => {
  it('keeps a live connection flowing while services are added, changed and removed around it', async () => {
    const a = await taggedServer('a');
    const b = await taggedServer('b');
    const doc = {
      services: [
        { name: 'live', type: 'forward', listen: '127.0.0.1:0', targets: [a.address] },
        { name: 'doomed', type: 'forward', listen: '127.0.0.1:0', targets: [a.address] },
      ],
    };
    const tg = await startTidegate(doc);
    try {
      const livePort = tg.port('live');
      const doomedPort = tg.port('doomed');
      const client = await connectTo(livePort);
      assert.equal(await readLine(client), 'a');
      // Change the live service's targets (same listener), remove one service, add another.
      tg.setSource({
        services: [
          { name: 'live', type: 'forward', listen: '127.0.0.1:0', targets: [b.address] },
          { name: 'fresh', type: 'forward', listen: '127.0.0.1:0', targets: [b.address] },
        ],
      });
      const result = await tg.runtime.reloadFromSource();
      assert.equal(result.ok, true);
      assert.deepEqual(result.changed, ['live']);
      assert.deepEqual(result.removed, ['doomed']);
      assert.deepEqual(result.added, ['fresh']);
      // The old connection still talks to "a", byte for byte.
      client.write('still here');
      assert.equal((await readBytes(client, 10)).toString(), 'still here');
      // New connections on the same listener go to the new target.
      const second = await connectTo(livePort);
      assert.equal(await readLine(second), 'b');
      second.destroy();
      assert.equal(tg.status('live').connections.total, 2, 'the listener (and its counters) survived the reload');
      const fresh = await connectTo(tg.port('fresh'));
      assert.equal(await readLine(fresh), 'b');
      fresh.destroy();
      // The removed service no longer accepts.
      await assert.rejects(connectTo(doomedPort), /ECONNREFUSED/);
      client.destroy();
    } finally {
      await tg.stop();
      await a.close();
      await b.close();
    }
  });

  it('an invalid config changes nothing and reports every error', async () => {
    const a = await taggedServer('a');
    const tg = await startTidegate({ services: [{ name: 'live', type: 'forward', listen: '127.0.0.1:0', targets: [a.address] }] });
    try {
      const before = tg.runtime.config;
      tg.setSource({ services: [{ name: 'live', type: 'forward', listen: 'nowhere', targets: [] }] });
      await assert.rejects(tg.runtime.reloadFromSource(), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.issues.map((i) => i.path), ['services[0].listen', 'services[0].targets']);
        return true;
      });
      assert.equal(tg.runtime.config, before);
      const client = await connectTo(tg.port('live'));
      assert.equal(await readLine(client), 'a');
      client.destroy();
      assert.equal(tg.runtime.status().reloads.failed, 1);
    } finally {
      await tg.stop();
      await a.close();
    }
  });

  it('a service whose port is taken is reported while the other changes still apply', async () => {
    const a = await taggedServer('a');
    const busy = await listen(() => undefined);
    const tg = await startTidegate({ services: [{ name: 'one', type: 'forward', listen: '127.0.0.1:0', targets: [a.address] }] });
    try {
      tg.setSource({
        services: [
          { name: 'one', type: 'forward', listen: '127.0.0.1:0', targets: [a.address] },
          { name: 'clash', type: 'forward', listen: busy.address, targets: [a.address] },
          { name: 'two', type: 'forward', listen: '127.0.0.1:0', targets: [a.address] },
        ],
      });
      const result = await tg.runtime.reloadFromSource();
      assert.equal(result.ok, false);
      assert.deepEqual(result.failed.map((f) => [f.service, f.code]), [['clash', 'TG_ERR_LISTEN']]);
      assert.match(result.failed[0]!.message, /service "clash" cannot listen on .*EADDRINUSE/);
      const two = await connectTo(tg.port('two'));
      assert.equal(await readLine(two), 'a');
      two.destroy();
      assert.equal(tg.runtime.status().services.some((s) => s.name === 'clash'), false);
    } finally {
      await tg.stop();
      await a.close();
      await busy.close();
    }
  });

  it('a removed service lets its live connections finish within shutdownGrace', async () => {
    const a = await taggedServer('a');
    const tg = await startTidegate({ shutdownGrace: '5s', services: [{ name: 'old', type: 'forward', listen: '127.0.0.1:0', targets: [a.address] }] });
    try {
      const client = await connectTo(tg.port('old'));
      assert.equal(await readLine(client), 'a');
      tg.setSource({ shutdownGrace: '5s', services: [] });
      await tg.runtime.reloadFromSource();
      client.write('after removal');
      assert.equal((await readBytes(client, 13)).toString(), 'after removal');
      client.end();
      await eventually(() => tg.records.length === 1, 5_000, 'record');
      assert.equal(tg.records[0]!.reason, 'done');
    } finally {
      await tg.stop();
      await a.close();
    }
  });

  it('moves the admin API to a new address and applies a new token', async () => {
    const tg = await startTidegate({ admin: { listen: '127.0.0.1:0', token: 'one' }, services: [] });
    try {
      const first = tg.runtime.adminAddress()!;
      assert.equal((await fetch(`http://${first}/status`, { headers: { authorization: 'Bearer one' } })).status, 200);
      const probe = await listen(() => undefined);
      await probe.close();
      tg.setSource({ admin: { listen: probe.address, token: 'two' }, services: [] });
      assert.equal((await tg.runtime.reloadFromSource()).ok, true);
      assert.equal(tg.runtime.adminAddress(), probe.address);
      assert.equal((await fetch(`http://${probe.address}/status`, { headers: { authorization: 'Bearer one' } })).status, 401);
      assert.equal((await fetch(`http://${probe.address}/status`, { headers: { authorization: 'Bearer two' } })).status, 200);
      await assert.rejects(fetch(`http://${first}/status`));
    } finally {
      await tg.stop();
    }
  });
});
