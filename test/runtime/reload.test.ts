import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { taggedServer } from '../fixtures/tcp.js';
import { freePort, listen } from '../helpers/listen.js';
import { connectTo, readBytes, readLine } from '../helpers/sockets.js';
import { startTidegate } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

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
    const tg = await startTidegate({
      services: [{ name: 'live', type: 'forward', listen: '127.0.0.1:0', targets: [a.address] }],
    });
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
    const tg = await startTidegate({
      services: [{ name: 'one', type: 'forward', listen: '127.0.0.1:0', targets: [a.address] }],
    });
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
    const tg = await startTidegate({
      shutdownGrace: '5s', services: [{ name: 'old', type: 'forward', listen: '127.0.0.1:0', targets: [a.address] }],
    });
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
      const probe = { address: `127.0.0.1:${await freePort()}` };
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

interface StatusJson {
  services: { name: string; listen: string; state: string; connections: { live: number } }[];
}

/** POST /reload and GET /status through the admin API, as an operator sees them. */
function adminClient(tg: Awaited<ReturnType<typeof startTidegate>>): {
  reload(): Promise<{ status: number; body: ReloadReply }>; status(): Promise<StatusJson>;
} {
  const base = `http://${tg.runtime.adminAddress()!}`;
  return {
    async reload() {
      const res = await fetch(`${base}/reload`, { method: 'POST' });
      return { status: res.status, body: (await res.json()) as ReloadReply };
    },
    async status() {
      return (await (await fetch(`${base}/status`)).json()) as StatusJson;
    },
  };
}

interface ReloadReply {
  ok: boolean;
  added: string[];
  removed: string[];
  changed: string[];
  failed: { service: string; address: string; code: string; message: string }[];
}

describe('hot reload: a service that cannot bind', () => {
  const admin = { listen: '127.0.0.1:0' };
  const fwd = (name: string, listen: string, target: string): Record<string, unknown> => ({
    name, type: 'forward', listen, targets: [target],
  });

  it('is reported with 200 ok:false, is not half-registered, can be removed, '
    + 'and is retried by a later reload', async () => {
    const a = await taggedServer('a');
    const busy = await listen(() => undefined);
    const tg = await startTidegate({ admin, services: [fwd('one', '127.0.0.1:0', a.address)] });
    const api = adminClient(tg);
    try {
      tg.setSource({
        admin,
        services: [
          fwd('one', '127.0.0.1:0', a.address), fwd('clash', busy.address, a.address),
          fwd('good', '127.0.0.1:0', a.address),
        ],
      });
      const partial = await api.reload();
      assert.equal(partial.status, 200);
      assert.equal(partial.body.ok, false);
      assert.deepEqual(partial.body.added, ['clash', 'good']);
      assert.equal(partial.body.failed.length, 1);
      const failure = partial.body.failed[0]!;
      assert.deepEqual([failure.service, failure.address, failure.code], ['clash', busy.address, 'TG_ERR_LISTEN']);
      assert.match(failure.message, /service "clash" cannot listen on .*EADDRINUSE/);
      // What runs is the config in force: the failed service is not in it, the good one is.
      assert.deepEqual(tg.runtime.config.services.map((s) => s.name), ['one', 'good']);
      assert.deepEqual(
        (await api.status()).services.map((s) => [s.name, s.state]), [['one', 'running'], ['good', 'running']],
      );
      const goodPort = tg.port('good');
      const good = await connectTo(goodPort);
      assert.equal(await readLine(good), 'a');
      good.destroy();

      // Removing both: no 500, the good one stops listening.
      tg.setSource({ admin, services: [fwd('one', '127.0.0.1:0', a.address)] });
      const removal = await api.reload();
      assert.equal(removal.status, 200);
      assert.equal(removal.body.ok, true);
      assert.deepEqual(removal.body.removed, ['good']);
      assert.deepEqual(removal.body.failed, []);
      await assert.rejects(connectTo(goodPort), /ECONNREFUSED/);
      await eventually(async () => (await api.status()).services.length === 1, 5_000, 'only "one" left');

      // Retried while the port is still taken: reported again; once it is free, it starts.
      tg.setSource({ admin, services: [fwd('one', '127.0.0.1:0', a.address), fwd('clash', busy.address, a.address)] });
      const again = await api.reload();
      assert.deepEqual([again.status, again.body.ok, again.body.failed.map((f) => f.service)], [200, false, ['clash']]);
      await busy.close();
      const retry = await api.reload();
      assert.deepEqual([retry.status, retry.body.ok, retry.body.added], [200, true, ['clash']]);
      const clash = await connectTo(busy.port);
      assert.equal(await readLine(clash), 'a');
      clash.destroy();
      assert.equal(tg.status('clash').state, 'running');
      assert.equal(tg.runtime.status().reloads.failed, 2);
    } finally {
      await tg.stop();
      await a.close();
      await busy.close();
    }
  });

  it('a service moved to a taken port keeps its old listener and settings until a later reload moves it', async () => {
    const a = await taggedServer('a');
    const b = await taggedServer('b');
    const busy = await listen(() => undefined);
    const tg = await startTidegate({ admin, services: [fwd('moving', '127.0.0.1:0', a.address)] });
    const api = adminClient(tg);
    try {
      const oldPort = tg.port('moving');
      tg.setSource({ admin, services: [fwd('moving', busy.address, b.address)] });
      const moved = await api.reload();
      assert.deepEqual(
        [moved.status, moved.body.ok, moved.body.changed, moved.body.failed.map((f) => f.address)],
        [200, false, ['moving'], [busy.address]],
      );
      const old = await connectTo(oldPort);
      assert.equal(await readLine(old), 'a', 'the old listener still serves with its old targets');
      old.destroy();
      const inForce = tg.runtime.config.services[0] as unknown as {
        listen: { port: number }; targets: { port: number }[];
      };
      assert.deepEqual(
        [inForce.listen.port, inForce.targets[0]!.port], [0, a.port], 'the config in force is the old service',
      );
      await busy.close();
      const retry = await api.reload();
      assert.deepEqual([retry.body.ok, retry.body.changed], [true, ['moving']]);
      const moved2 = await connectTo(busy.port);
      assert.equal(await readLine(moved2), 'b');
      moved2.destroy();
      await assert.rejects(connectTo(oldPort), /ECONNREFUSED/);
    } finally {
      await tg.stop();
      await a.close();
      await b.close();
      await busy.close();
    }
  });

  it('a gateway that cannot bind is released whole and starts on a later reload', async () => {
    const busy = await listen(() => undefined);
    const tg = await startTidegate({ admin, pool: { threads: 1 }, services: [] });
    const api = adminClient(tg);
    const gateway = {
      name: 'llm', type: 'gateway', listen: busy.address,
      channels: [{ name: 'oa', kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', keys: ['sk-never-sent'], models: ['gpt-*'] }],
    };
    try {
      tg.setSource({ admin, pool: { threads: 1 }, services: [gateway] });
      const partial = await api.reload();
      assert.deepEqual(
        [partial.status, partial.body.ok, partial.body.failed.map((f) => f.code)], [200, false, ['TG_ERR_LISTEN']],
      );
      assert.equal(JSON.stringify(partial.body).includes('sk-never-sent'), false);
      assert.deepEqual(tg.runtime.config.services, []);
      await busy.close();
      const retry = await api.reload();
      assert.deepEqual([retry.body.ok, retry.body.added], [true, ['llm']]);
      const models = await fetch(`http://${busy.address}/v1/models`);
      assert.equal(models.status, 200);
      await models.arrayBuffer();
    } finally {
      await tg.stop();
      await busy.close();
    }
  });

  it('a failed admin move keeps the old admin listener and is retried', async () => {
    const busy = await listen(() => undefined);
    const tg = await startTidegate({ admin, services: [] });
    try {
      const first = tg.runtime.adminAddress()!;
      tg.setSource({ admin: { listen: busy.address }, services: [] });
      const res = await fetch(`http://${first}/reload`, { method: 'POST' });
      const body = (await res.json()) as ReloadReply;
      assert.deepEqual(
        [res.status, body.ok, body.failed.map((f) => [f.service, f.address, f.code])],
        [200, false, [['admin', busy.address, 'TG_ERR_LISTEN']]],
      );
      assert.equal(tg.runtime.adminAddress(), first);
      assert.equal(tg.runtime.config.admin.listen?.port, 0, 'the admin address in force is the one bound');
      await busy.close();
      // Over the old listener: it closes once the new one listens, and still sends this very request its reply.
      const retry = await fetch(`http://${first}/reload`, { method: 'POST' });
      assert.deepEqual([retry.status, ((await retry.json()) as ReloadReply).ok], [200, true]);
      assert.equal(tg.runtime.adminAddress(), busy.address);
      assert.equal((await fetch(`http://${busy.address}/status`)).status, 200);
    } finally {
      await tg.stop();
      await busy.close();
    }
  });
});

describe('hot reload: draining services in /status', () => {
  it('a removed or moved service shows as draining while its connection is open, then disappears', async () => {
    const a = await taggedServer('a');
    const admin = { listen: '127.0.0.1:0' };
    const fwd = (name: string): Record<string, unknown> => ({
      name, type: 'forward', listen: '127.0.0.1:0', targets: [a.address],
    });
    const tg = await startTidegate({ admin, shutdownGrace: '30s', services: [fwd('old'), fwd('moved')] });
    const api = adminClient(tg);
    try {
      const oldAddress = tg.status('old').listen;
      const movedAddress = tg.status('moved').listen;
      const held = [await connectTo(tg.port('old')), await connectTo(tg.port('moved'))];
      for (const c of held) assert.equal(await readLine(c), 'a');
      const probe = { address: `127.0.0.1:${await freePort()}` };
      tg.setSource({ admin, shutdownGrace: '30s', services: [{ ...fwd('moved'), listen: probe.address }] });
      const result = await api.reload();
      assert.deepEqual([result.body.ok, result.body.removed, result.body.changed], [true, ['old'], ['moved']]);
      const during = (await api.status()).services.map((s) => [s.name, s.state, s.listen, s.connections.live]);
      assert.deepEqual(during, [
        ['moved', 'running', probe.address, 0],
        ['old', 'draining', oldAddress, 1],
        ['moved', 'draining', movedAddress, 1],
      ]);
      // The held connections still relay.
      held[0]!.write('x');
      assert.equal((await readBytes(held[0]!, 1)).toString(), 'x');
      for (const c of held) c.destroy();
      await eventually(async () => (await api.status()).services.length === 1, 5_000, 'drained services gone');
      assert.equal((await api.status()).services[0]!.state, 'running');
    } finally {
      await tg.stop();
      await a.close();
    }
  });
});
