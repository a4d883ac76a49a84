import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { echoServer } from '../fixtures/tcp.js';
import type { CliProcess } from '../helpers/cli.js';
import {
  acceptsByWorker, expectedAccepts, killFleet, restartUnderLoad, spreadConnections, startFleet,
  workersReport as workers, type Fleet,
} from '../helpers/fleet.js';
import { getJson, post, type Json } from '../helpers/http.js';
import { freePort, type TestServer } from '../helpers/listen.js';
import { connectTo, echoOnce as echo } from '../helpers/sockets.js';
import { eventually } from '../helpers/wait.js';
import { reusePortCalls } from '../../src/listen/reuseport.js';

/**
 * Opens connections to `port` until every worker holds some (the kernel hashes each connection to one of the slots'
 * sockets); returns how many each worker holds, then closes them.
 */
async function landOnBoth(admin: string, port: number, service: string): Promise<number[]> {
  const { sockets, live } = await spreadConnections(admin, port, service, { perBatch: 6 });
  for (const s of sockets) s.destroy();
  return live;
}

/** Whether a connection to `port` is refused (nothing listens there any more). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

describe('workers on SO_REUSEPORT listeners held per slot by the primary', { skip: reusePortCalls() === null }, () => {
  let target: TestServer;
  let fleet: Fleet;
  let tg: CliProcess;
  let admin: string;

  before(async () => {
    target = await echoServer();
    fleet = await startFleet('tidegate-reuseport-', {
      store: { sqlite: 'off' },
      shutdownGrace: '3s',
      services: [
        { name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] },
        { name: 'moving', type: 'forward', listen: `127.0.0.1:${await freePort()}`, targets: [target.address] },
      ],
    }, ['fwd', 'moving']);
    ({ tg, admin } = fleet);
  });

  after(async () => {
    await killFleet(fleet);
    await target.close();
  });

  it('listen port 0: both workers listen on the one port the primary bound, and connections land on both', async () => {
    const w = await workers(admin);
    assert.equal(w.scheduling, 'reuseport');
    const port = tg.port('fwd');
    assert.notEqual(port, 0);
    const status = (await getJson(admin, '/status')).body;
    assert.equal(status.services.find((s: Json) => s.name === 'fwd').listen, `127.0.0.1:${port}`);
    const totals = await landOnBoth(admin, port, 'fwd');
    assert.ok(totals.every((n) => n > 0), `both workers accepted: ${totals.join()}`);
    // Each worker's addon accepts on its own copy of the slot's socket (Node, with TIDEGATE_NATIVE_ACCEPT=0).
    assert.deepEqual(await acceptsByWorker(admin, 'fwd'), [expectedAccepts(), expectedAccepts()]);
  });

  it('a reload that changes a listen port applies in both workers; the old port is closed', async () => {
    const file = join(fleet.dir, 'tidegate.json');
    const doc = JSON.parse(readFileSync(file, 'utf8')) as Json;
    const moving = doc.services.find((s: Json) => s.name === 'moving');
    const oldPort = Number(moving.listen.slice(moving.listen.lastIndexOf(':') + 1));
    const newPort = await freePort();
    moving.listen = `127.0.0.1:${newPort}`;
    writeFileSync(file, JSON.stringify(doc));
    const result = (await post(`http://${admin}/reload`, {})).json();
    assert.equal(result.ok, true, JSON.stringify(result.failed));
    assert.deepEqual(result.changed, ['moving']);
    const totals = await landOnBoth(admin, newPort, 'moving');
    assert.ok(totals.every((n) => n > 0), `both workers accepted on the new port: ${totals.join()}`);
    assert.deepEqual(await acceptsByWorker(admin, 'moving'), [expectedAccepts(), expectedAccepts()]);
    await eventually(() => refused(oldPort), 10_000, 'the old port refuses connections');
  });

  it('a rolling restart under steady connection churn refuses and resets none', async () => {
    const port = tg.port('fwd');
    const before = await workers(admin);
    const load = await restartUnderLoad(admin, async () => {
      const s = await connectTo(port);
      s.on('error', () => undefined);
      await echo(s, 1000);
      s.destroy();
      return null;
    }, 20, 20);
    assert.equal(load.status, 200);
    const restarted = load.restarted;
    assert.deepEqual(load.failures, []);
    for (let i = 0; i < 2; i++) {
      assert.notEqual(restarted.slots[i].pid, before.slots[i].pid);
      assert.equal(restarted.slots[i].state, 'running');
    }
    const totals = await landOnBoth(admin, port, 'fwd');
    assert.ok(totals.every((n) => n > 0), `both new workers accept: ${totals.join()}`);
    assert.deepEqual(await acceptsByWorker(admin, 'fwd'), [expectedAccepts(), expectedAccepts()]);
  });
});

describe('workers with TIDEGATE_WORKER_LISTEN=cluster: node:cluster shares the listeners', () => {
  let target: TestServer;
  let fleet: Fleet;

  before(async () => {
    target = await echoServer();
    fleet = await startFleet('tidegate-cluster-listen-', {
      store: { sqlite: 'off' },
      services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
    }, ['fwd'], { env: { TIDEGATE_WORKER_LISTEN: 'cluster' } });
  });

  after(async () => {
    await killFleet(fleet);
    await target.close();
  });

  it('round-robin: connections land on both workers', async () => {
    const admin = fleet.admin;
    assert.equal((await workers(admin)).scheduling, 'rr');
    const totals = await landOnBoth(admin, fleet.tg.port('fwd'), 'fwd');
    assert.ok(totals.every((n) => n > 0), `both workers accepted: ${totals.join()}`);
    // The primary accepts and passes each connection over IPC: a worker's handle has no fd for the addon.
    assert.deepEqual(await acceptsByWorker(admin, 'fwd'), ['node', 'node']);
  });
});
