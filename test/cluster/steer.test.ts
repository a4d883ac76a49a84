import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { echoServer } from '../fixtures/tcp.js';
import { killFleet, startFleet, totalByWorker, workersReport, type Fleet } from '../helpers/fleet.js';
import type { TestServer } from '../helpers/listen.js';
import { eventually } from '../helpers/wait.js';
import { reusePortCalls } from '../../src/listen/reuseport.js';
import { slotCpus } from '../../src/cluster/steering.js';

const run = promisify(execFile);

/** Connections one pinned client makes, one after the other (each: connect, 1 byte echoed, close). */
const PER_CLIENT = 8;

/** A client process on CPU `cpu` only: loopback handles its SYNs on that CPU, which the steering reads. */
const CLIENT = `
import { connect } from 'node:net';
const [port, count] = process.argv.slice(1).map(Number);
for (let i = 0; i < count; i++) {
  await new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write('x'));
    s.once('data', () => { s.destroy(); resolve(); });
    s.once('error', reject);
  });
}`;

async function clientOn(cpu: number, port: number): Promise<void> {
  await run('taskset', ['-c', String(cpu), process.execPath, '--input-type=module', '-e', CLIENT,
    String(port), String(PER_CLIENT)]);
}

function hasTaskset(): boolean {
  try {
    readFileSync('/usr/bin/taskset');
    return true;
  } catch {
    return false;
  }
}

const skip = reusePortCalls()?.steerByCpu === undefined || availableParallelism() < 2 || !hasTaskset();

describe('workers with TIDEGATE_REUSEPORT_STEER=cpu and TIDEGATE_WORKER_PIN=1', { skip }, () => {
  let target: TestServer;
  let fleet: Fleet;

  before(async () => {
    target = await echoServer();
    fleet = await startFleet('tidegate-steer-', {
      store: { sqlite: 'off' },
      services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
    }, ['fwd'], { env: { TIDEGATE_REUSEPORT_STEER: 'cpu', TIDEGATE_WORKER_PIN: '1' } });
  });

  after(async () => {
    await killFleet(fleet);
    await target.close();
  });

  it('each worker runs on the CPU of its slot', async () => {
    const w = await workersReport(fleet.admin);
    assert.equal(w.scheduling, 'reuseport');
    for (const [i, slot] of (w.slots as { pid: number }[]).entries()) {
      const status = readFileSync(`/proc/${slot.pid}/status`, 'utf8');
      const cpus = slotCpus(i + 1, 2).join(',');
      assert.match(status, new RegExp(`^Cpus_allowed_list:\\s+${cpus}$`, 'm'), `worker ${i + 1}'s CPUs`);
    }
  });

  it('a connection lands on the worker of the CPU its SYN arrived on', async () => {
    const port = fleet.tg.port('fwd');
    await clientOn(0, port);
    await eventually(async () => (await totalByWorker(fleet.admin, 'fwd')).join() === `${PER_CLIENT},0`, 10_000,
      'CPU 0\'s connections all on worker 1');
    await clientOn(1, port);
    await eventually(async () => (await totalByWorker(fleet.admin, 'fwd')).join() === `${PER_CLIENT},${PER_CLIENT}`,
      10_000, 'CPU 1\'s connections all on worker 2');
  });
});

describe('slotCpus: the CPUs whose connections the steering gives a slot', () => {
  it('c mod slots = slot - 1, over the cores', () => {
    assert.deepEqual(slotCpus(1, 2, 4), [0, 2]);
    assert.deepEqual(slotCpus(2, 2, 4), [1, 3]);
    assert.deepEqual(slotCpus(3, 3, 8), [2, 5]);
    assert.deepEqual(slotCpus(1, 1, 2), [0, 1]);
  });
});
