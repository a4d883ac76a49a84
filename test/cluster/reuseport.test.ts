import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { echoServer } from '../fixtures/tcp.js';
import { startTidegateProcess, type CliProcess } from '../helpers/cli.js';
import { getJson, post, type Json } from '../helpers/http.js';
import { acceptsByWorker, expectedAccepts } from '../helpers/fleet.js';
import { freePort, type TestServer } from '../helpers/listen.js';
import { connectTo, readBytes } from '../helpers/sockets.js';
import { tempDir } from '../helpers/temp.js';
import { eventually } from '../helpers/wait.js';
import { reusePortCalls } from '../../src/listen/reuseport.js';

async function echo(socket: Socket, bytes: number): Promise<void> {
  const back = readBytes(socket, bytes);
  socket.write(Buffer.alloc(bytes, 7));
  assert.equal((await back).length, bytes);
}

async function workers(admin: string): Promise<Json> {
  return (await getJson(admin, '/workers')).body;
}

async function liveByWorker(admin: string, service: string): Promise<number[]> {
  const w = await workers(admin);
  return w.slots.map((s: Json) => s.services.find((x: Json) => x.name === service)?.connections.live ?? 0);
}

/**
 * Opens connections to `port` (each echoing once, all kept open) until every worker has some (the kernel hashes
 * each connection to one of the slots' sockets); returns how many each worker holds, then closes them.
 */
async function landOnBoth(admin: string, port: number, service: string): Promise<number[]> {
  const sockets: Socket[] = [];
  let live: number[] = [];
  try {
    for (let batch = 0; batch < 10; batch++) {
      for (let i = 0; i < 6; i++) {
        const s = await connectTo(port);
        await echo(s, 100);
        sockets.push(s);
      }
      await eventually(async () => {
        live = await liveByWorker(admin, service);
        return live.reduce((a, b) => a + b, 0) === sockets.length;
      }, 10_000, 'the workers report every connection');
      if (live.every((n) => n > 0)) return live;
    }
    throw new Error(`60 connections did not reach both workers: ${live.join()}`);
  } finally {
    for (const s of sockets) s.destroy();
  }
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
  let dir: string;
  let tg: CliProcess;
  let admin: string;

  before(async () => {
    target = await echoServer();
    dir = tempDir('tidegate-reuseport-');
    tg = await startTidegateProcess(dir, {
      admin: { listen: '127.0.0.1:0' },
      store: { sqlite: 'off' },
      shutdownGrace: '3s',
      workers: 2,
      services: [
        { name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] },
        { name: 'moving', type: 'forward', listen: `127.0.0.1:${await freePort()}`, targets: [target.address] },
      ],
    }, ['fwd', 'moving', 'admin']);
    admin = tg.address('admin');
  });

  after(async () => {
    tg.child.kill('SIGKILL');
    await tg.exited;
    await target.close();
    rmSync(dir, { recursive: true, force: true });
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
    const file = join(dir, 'tidegate.json');
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
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const clients = Array.from({ length: 4 }, async () => {
      while (!stop) {
        try {
          const s = await connectTo(port);
          s.on('error', () => undefined);
          await echo(s, 1000);
          s.destroy();
          ok++;
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    });
    await eventually(() => ok >= 20, 10_000, 'connections flowing');
    const res = await post(`http://${admin}/workers/restart`, {});
    assert.equal(res.status, 200);
    const restarted = res.json();
    const atRestart = ok;
    await eventually(() => ok >= atRestart + 20, 10_000, 'connections flowing after the restart');
    stop = true;
    await Promise.all(clients);
    assert.deepEqual(failures, []);
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
  let dir: string;
  let tg: CliProcess;

  before(async () => {
    target = await echoServer();
    dir = tempDir('tidegate-cluster-listen-');
    tg = await startTidegateProcess(dir, {
      admin: { listen: '127.0.0.1:0' },
      store: { sqlite: 'off' },
      workers: 2,
      services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
    }, ['fwd', 'admin'], { env: { TIDEGATE_WORKER_LISTEN: 'cluster' } });
  });

  after(async () => {
    tg.child.kill('SIGKILL');
    await tg.exited;
    await target.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('round-robin: connections land on both workers', async () => {
    const admin = tg.address('admin');
    assert.equal((await workers(admin)).scheduling, 'rr');
    const totals = await landOnBoth(admin, tg.port('fwd'), 'fwd');
    assert.ok(totals.every((n) => n > 0), `both workers accepted: ${totals.join()}`);
    // The primary accepts and passes each connection over IPC: a worker's handle has no fd for the addon.
    assert.deepEqual(await acceptsByWorker(admin, 'fwd'), ['node', 'node']);
  });
});
