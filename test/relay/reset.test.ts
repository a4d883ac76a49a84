import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { listen, type TestServer } from '../helpers/listen.js';
import { connectTo, readBytes } from '../helpers/sockets.js';
import { availableEngines, startTidegate, type EngineFactory, type Running } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

/** tidegate forwarding `fwd` to a target of its own; `upstream` is the target's end of the latest connection. */
interface Forward {
  readonly tg: Running;
  readonly target: TestServer;
  upstream: Socket | null;
}

/** Starts a Forward; `onTarget` also sees each connection the target accepts. */
async function startForward(engine: EngineFactory, onTarget?: (socket: Socket) => void): Promise<Forward> {
  const holder: { upstream: Socket | null } = { upstream: null };
  const target = await listen((socket) => {
    holder.upstream = socket;
    onTarget?.(socket);
  });
  try {
    const tg = await startTidegate({
      services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
    }, { engine });
    return Object.assign(holder, { tg, target });
  } catch (err) {
    await target.close();
    throw err;
  }
}

async function stopForward(f: Forward): Promise<void> {
  await f.tg.stop();
  await f.target.close();
}

for (const engine of availableEngines()) {
  describe(`relay (${engine.kind}): reset propagation`, () => {
    it('a client reset resets the target', async () => {
      const f = await startForward(engine);
      const { tg } = f;
      try {
        const client = await connectTo(tg.port('fwd'));
        client.write('hello');
        await eventually(() => f.upstream !== null, 5_000, 'target connection');
        // The target must have read the bytes before the reset lands: libuv, finding data and a reset queued
        // together, reports the data and then an EOF (from POLLHUP) instead of the reset, and a paused socket
        // with unread data never emits that 'end'.
        await eventually(() => f.upstream!.readableLength === 5, 5_000, 'relayed bytes at the target');
        const errored = new Promise<string>((resolve) => {
          f.upstream!.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
          f.upstream!.once('end', () => resolve('end'));
        });
        client.resetAndDestroy();
        assert.equal(await errored, 'ECONNRESET');
        await eventually(() => tg.records.length === 1, 5_000, 'relay record');
        assert.equal(tg.records[0]!.reason, 'client_reset');
      } finally {
        await stopForward(f);
      }
    });

    it('a target reset resets the client', async () => {
      const f = await startForward(engine, (socket) => {
        socket.once('data', () => socket.resetAndDestroy());
      });
      const { tg } = f;
      try {
        const client = await connectTo(tg.port('fwd'));
        const errored = new Promise<string>((resolve) => {
          client.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
          client.once('end', () => resolve('end'));
        });
        client.write('boom');
        assert.equal(await errored, 'ECONNRESET');
        await once(client, 'close');
        await eventually(() => tg.records.length === 1, 5_000, 'relay record');
        assert.equal(tg.records[0]!.reason, 'target_reset');
      } finally {
        await stopForward(f);
      }
    });

    it('a client that half-closes, then resets while target bytes arrive, ends the relay and the target', async () => {
      const f = await startForward(engine);
      const { tg } = f;
      try {
        const client = await connectTo(tg.port('fwd'));
        client.on('error', () => undefined);
        await eventually(() => f.upstream !== null, 5_000, 'target connection');
        const upstream = f.upstream!;
        upstream.write('x');
        await readBytes(client, 1);
        const over = new Promise<string>((resolve) => {
          upstream.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
          upstream.once('end', () => resolve('end'));
        });
        // The FIN, the reset and the target's bytes reach tidegate in one turn of its loop: the relay passes the EOF
        // on (its FIN to the target still queued in libuv), then its write to the client fails and it resets both.
        client.end();
        await once(client, 'finish');
        client.resetAndDestroy();
        upstream.write(Buffer.alloc(1024, 1));
        assert.ok(['end', 'ECONNRESET', 'EPIPE'].includes(await over), 'the target connection ends');
        await eventually(() => tg.records.length === 1, 5_000, 'relay record');
        assert.equal(tg.records[0]!.reason, 'client_reset');
      } finally {
        await stopForward(f);
      }
    });
  });
}
