import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { RelayRecord } from '../../src/contracts/records.js';
import { echoServer } from '../fixtures/tcp.js';
import type { TestServer } from '../helpers/listen.js';
import { connectTo, readBytes } from '../helpers/sockets.js';
import { eventually } from '../helpers/wait.js';
import { startManaged, type Managed } from './managed.js';

async function open(port: number): Promise<Socket> {
  const client = await connectTo(port);
  client.on('error', () => undefined);
  client.write('hi');
  assert.equal((await readBytes(client, 2)).toString(), 'hi');
  return client;
}

function portOf(tg: Managed, name: string): number {
  return Number(tg.runtime.status().services.find((s) => s.name === name)!.listen.split(':').pop());
}

describe('a user taken away closes its live relays', () => {
  let tg: Managed;
  let target: TestServer;
  const records: RelayRecord[] = [];
  before(async () => {
    target = await echoServer();
    tg = await startManaged({
      users: [{ id: 'keep' }, { id: 'gone' }],
      services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'gone', targets: [target.address] }],
    });
    tg.runtime.onRelayClosed((r) => records.push(r));
  });
  after(async () => {
    await tg.stop();
    await target.close();
  });

  it('by a file reload: the removed user\'s relays close (user_removed), the service goes on', async () => {
    const port = portOf(tg, 'fwd');
    const clients = [await open(port), await open(port)];
    // The file drops "gone" and gives its service to "keep": the service changes in place, the old relays close.
    await tg.writeConfig({
      users: [{ id: 'keep' }],
      services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'keep', targets: [target.address] }],
    });
    const reload = await tg.api('POST', '/reload');
    assert.equal(reload.status, 200, JSON.stringify(reload.body));
    assert.deepEqual(reload.body.changed, ['fwd']);
    assert.deepEqual(reload.body.failed, []);
    await eventually(() => clients.every((c) => c.readableEnded || c.destroyed), 5_000, 'both relays closed');
    for (const c of clients) c.destroy();
    const removed = (): number => records.filter((r) => r.service === 'fwd' && r.reason === 'user_removed').length;
    await eventually(() => removed() === 2, 5_000, 'two user_removed records');
    // New connections go on, accounted to "keep".
    const fresh = await open(port);
    fresh.destroy();
    await eventually(() => records.some((r) => r.service === 'fwd' && r.user === 'keep'), 5_000, 'a record of keep');
  });

  it('by PATCH enabled: false: the user\'s relays close (user_disabled) and new ones are refused', async () => {
    assert.equal((await tg.api('POST', '/users', { id: 'temp' })).status, 201);
    const svc = await tg.api('POST', '/services', {
      name: 'temp-fwd', type: 'forward', listen: '127.0.0.1:0', user: 'temp', targets: [target.address],
    });
    assert.equal(svc.status, 201, JSON.stringify(svc.body));
    const client = await open(portOf(tg, 'temp-fwd'));
    const off = await tg.api('PATCH', '/users/temp', { enabled: false });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    await eventually(() => client.readableEnded || client.destroyed, 5_000, 'the relay closed');
    client.destroy();
    const disabled = (): boolean => records.some((r) => r.service === 'temp-fwd' && r.reason === 'user_disabled');
    await eventually(disabled, 5_000, 'a user_disabled record');
  });

  it('by DELETE: the reply counts the relays the removal closed', async () => {
    assert.equal((await tg.api('POST', '/users', { id: 'brief' })).status, 201);
    const svc = await tg.api('POST', '/services', {
      name: 'brief-fwd', type: 'forward', listen: '127.0.0.1:0', user: 'brief', targets: [target.address],
    });
    assert.equal(svc.status, 201);
    const clients = [await open(portOf(tg, 'brief-fwd')), await open(portOf(tg, 'brief-fwd'))];
    // The service goes to another user first (a user a service names cannot be removed); its relays stay brief's.
    assert.equal((await tg.api('PATCH', '/services/brief-fwd', { user: 'keep' })).status, 200);
    const removed = await tg.api('DELETE', '/users/brief');
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    assert.equal(removed.body.closed, 2);
    await eventually(() => clients.every((c) => c.readableEnded || c.destroyed), 5_000, 'both relays closed');
    for (const c of clients) c.destroy();
  });
});
