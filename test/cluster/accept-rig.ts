import assert from 'node:assert/strict';
import type { Worker } from 'node:cluster';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { connectTo, readAll } from '../helpers/sockets.js';

/** The two node:cluster accept tests' shared steps (workers run accept-worker.ts). */

/** Opens `count` connections one after another, each echoing a different payload byte for byte. */
export async function echoesExactly(port: number, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const payload = randomBytes(1024 + i);
    const socket = await connectTo(port);
    const back = readAll(socket);
    socket.end(payload);
    assert.ok((await back).equals(payload), `connection ${i} relayed exactly`);
  }
}

/** Asks every worker to stop and waits for each to exit. */
export async function stopWorkers(workers: readonly Worker[]): Promise<void> {
  await Promise.all(workers.map(async (w) => {
    const exited = once(w, 'exit');
    w.send('stop');
    await exited;
  }));
}
