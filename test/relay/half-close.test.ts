import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { listen } from '../helpers/listen.js';
import { connectTo, readAll } from '../helpers/sockets.js';
import { availableEngines, startTidegate } from '../helpers/tidegate.js';
import { eventually, sleep } from '../helpers/wait.js';

for (const engine of availableEngines()) {
  describe(`relay (${engine.kind}): half-close`, () => {
    it("passes the client's EOF on and keeps the other direction flowing", async () => {
      // The target answers only after the client's EOF, and slowly, in several writes.
      const target = await listen((socket) => {
        const chunks: Buffer[] = [];
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('end', async () => {
          const request = Buffer.concat(chunks).toString();
          for (let i = 0; i < 5; i++) {
            socket.write(`part${i}:${request};`);
            await sleep(20);
          }
          socket.end();
        });
      });
      const tg = await startTidegate({
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
      }, { engine });
      try {
        const client = await connectTo(tg.port('fwd'));
        const answer = readAll(client);
        client.end('question');
        const text = (await answer).toString();
        assert.equal(text, [0, 1, 2, 3, 4].map((i) => `part${i}:question;`).join(''));
        await eventually(() => tg.records.length === 1, 5_000, 'relay record');
        assert.equal(tg.records[0]!.reason, 'done');
        assert.equal(tg.records[0]!.bytesIn, 'question'.length);
      } finally {
        await tg.stop();
        await target.close();
      }
    });

    it('passes an EOF that arrives with its data, for reads that can and cannot fill a pipe', async () => {
      // The native relay takes a short read with the FIN already seen for the EOF when the pipe cannot be full:
      // both sides of that bound, each way (the target's answer ends with its FIN too).
      const target = await listen((socket) => {
        let length = 0;
        socket.on('data', (c: Buffer) => (length += c.length));
        socket.on('end', () => socket.end(Buffer.alloc(length, 'y')));
      });
      const tg = await startTidegate({
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
      }, { engine });
      try {
        const sizes = [1, 200, 5_000, 300_000];
        for (const size of sizes) {
          const client = await connectTo(tg.port('fwd'));
          const answer = readAll(client);
          client.end(Buffer.alloc(size, 'x'));
          assert.deepEqual(await answer, Buffer.alloc(size, 'y'));
        }
        await eventually(() => tg.records.length === sizes.length, 5_000, 'relay records');
        const bySize = [...tg.records].sort((a, b) => a.bytesIn - b.bytesIn);
        sizes.forEach((size, i) => {
          assert.equal(bySize[i]!.reason, 'done');
          assert.equal(bySize[i]!.bytesIn, size);
          assert.equal(bySize[i]!.bytesOut, size);
        });
      } finally {
        await tg.stop();
        await target.close();
      }
    });

    it("passes the target's EOF on while the client keeps sending", async () => {
      let received = '';
      let targetDone!: () => void;
      const targetFinished = new Promise<void>((r) => (targetDone = r));
      const target = await listen((socket) => {
        socket.end('bye');
        socket.on('data', (c: Buffer) => (received += c.toString()));
        socket.on('end', () => targetDone());
      });
      const tg = await startTidegate({
        services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
      }, { engine });
      try {
        const client = await connectTo(tg.port('fwd'));
        const fromTarget = readAll(client);
        assert.equal((await fromTarget).toString(), 'bye');
        client.write('still ');
        await sleep(30);
        client.end('talking');
        await targetFinished;
        assert.equal(received, 'still talking');
      } finally {
        await tg.stop();
        await target.close();
      }
    });

    it('closes a half-closed relay after halfCloseTimeout', async () => {
      const target = await listen((socket) => {
        socket.on('data', () => undefined); // never ends its side
      });
      const tg = await startTidegate(
        {
          services: [{
            name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address], halfCloseTimeout: '300ms',
          }],
        },
        { engine },
      );
      try {
        const client = await connectTo(tg.port('fwd'));
        client.on('data', () => undefined);
        client.end('x');
        await eventually(() => tg.records.length === 1, 5_000, 'relay record');
        assert.equal(tg.records[0]!.reason, 'half_close_timeout');
      } finally {
        await tg.stop();
        await target.close();
      }
    });
  });
}
