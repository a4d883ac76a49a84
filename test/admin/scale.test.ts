import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connectTo } from '../helpers/sockets.js';
import { echoServer } from '../fixtures/tcp.js';
import { eventually } from '../helpers/wait.js';
import { type TestServer } from '../helpers/listen.js';
import { startManaged, TOKEN, type Managed } from './managed.js';

interface Stream {
  readonly socket: Socket;
  sent: number;
  received: number;
  broken: boolean;
  timer: NodeJS.Timeout | null;
}

const CHUNK = Buffer.alloc(1024, 0x61);

describe('management API at scale', () => {
  let tg: Managed;
  let target: TestServer;
  before(async () => {
    target = await echoServer();
    tg = await startManaged({
      admin: { listen: '127.0.0.1:0', token: TOKEN },
      services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
    });
  });
  after(async () => {
    await tg.stop();
    await target.close();
  });

  it('adds 1,000 users one by one while 100 relays stream, breaking none', async () => {
    const port = Number(tg.runtime.status().services.find((s) => s.name === 'fwd')!.listen.split(':').pop());
    const streams: Stream[] = [];
    for (let i = 0; i < 100; i++) {
      const socket = await connectTo(port);
      const s: Stream = { socket, sent: 0, received: 0, broken: false, timer: null };
      socket.on('data', (d: Buffer) => { s.received += d.length; });
      socket.on('close', () => { s.broken = true; });
      socket.on('error', () => { s.broken = true; });
      s.timer = setInterval(() => {
        socket.write(CHUNK);
        s.sent += CHUNK.length;
      }, 20);
      streams.push(s);
    }
    const times: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const t = performance.now();
      const id = `user-${String(i).padStart(4, '0')}`;
      const res = await tg.api('POST', '/users', { id, quota: { bytes: '10GiB' } });
      times.push(performance.now() - t);
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    for (const s of streams) clearInterval(s.timer!);
    await eventually(() => streams.every((s) => s.received === s.sent), 20_000, 'every echo back');
    assert.deepEqual(streams.filter((s) => s.broken).length, 0);
    assert.equal(tg.runtime.config.users.length, 1000);
    const total = streams.reduce((n, s) => n + s.sent, 0);
    times.sort((a, b) => a - b);
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    // The note the issue asks for: time per call (no assertion on it: the machine is shared).
    console.log(`1,000 POST /users with 100 live relays (${(total / 1024 / 1024).toFixed(1)} MiB echoed): ` +
      `mean ${mean.toFixed(1)} ms, median ${times[500]!.toFixed(1)} ms, p99 ${times[990]!.toFixed(1)} ms, ` +
      `first ${times.length && times[0]!.toFixed(1)} ms`);
    for (const s of streams) s.socket.destroy();
    const page = await tg.api('GET', '/users?limit=1000');
    assert.equal(page.body.items.length, 1000);
  });
});
