import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import { describe, it } from 'node:test';
import { loadAddon, type NativeEngineBinding } from '../../src/relay/native/binding.js';
import {
  CloseReasonCode, DialArg, RecordCode, RecordField, RECORD_FIELDS, newDialArgs,
} from '../../src/relay/native/protocol.js';
import { openReusePort, reusePortCalls, type ListenCalls } from '../../src/listen/reuseport.js';
import { inodeOf, skipNative, watchedInodes } from './harness.js';
import { connectTo, readBytes } from '../helpers/sockets.js';
import { listen, type TestServer } from '../helpers/listen.js';
import { eventually, sleep } from '../helpers/wait.js';

/**
 * A relay fd the loop holds alone is closed without EPOLL_CTL_DEL (Loop::CloseFd): its registration goes with the
 * close. While something else holds the socket (a child between fork and exec; here a dup the test takes of an
 * accepted fd, which the relay believes sole) the registration outlives the relay, and its events keep coming while
 * new relays reuse the fd numbers and the loop's slots. The epoll data names a relay by slot and serial, so those
 * events reach no relay: with a pointer they were a use after free, with a slot alone they would mark the slot's
 * next relay readable, hung up or in error. Each new relay here sends in three parts around the stale socket's
 * data, FIN and reset: a relay that took the FIN for its own client's would stop reading after part two.
 */

const LISTENER = 1;

interface Harness {
  readonly binding: NativeEngineBinding;
  readonly calls: ListenCalls;
  readonly port: number;
  readonly epfd: number;
  /** Close records by relay id (reused ids: the latest), [bytesIn, bytesOut, reason]. */
  readonly closes: Map<number, [number, number, number]>;
  /** What went wrong in the records callback (thrown there, it would not reach the test). */
  readonly errors: string[];
  /** The accepted connection of `client` is dialed as relay `id`; `onFd` sees its fd first. */
  answer(client: net.Socket, id: number, onFd?: (fd: number) => void): Promise<void>;
  stop(): Promise<void>;
}

async function harness(echo: TestServer): Promise<Harness> {
  const calls = reusePortCalls()!;
  const closes = new Map<number, [number, number, number]>();
  const errors: string[] = [];
  // Accepted fds by the client's port, until the test names the relay; and the names waiting for their accept.
  const acceptedFds = new Map<number, number>();
  const answers = new Map<number, { id: number; onFd?: (fd: number) => void; resolve: () => void }>();
  let binding: NativeEngineBinding | null = null;
  const dial = (fd: number, answer: { id: number; onFd?: (fd: number) => void; resolve: () => void }): void => {
    answer.onFd?.(fd);
    const args = newDialArgs();
    args[DialArg.id] = answer.id;
    args[DialArg.clientFd] = fd;
    args[DialArg.halfCloseTimeoutMs] = 10_000;
    args[DialArg.address] = binding!.address('127.0.0.1', echo.port);
    args[DialArg.connectTimeoutMs] = 5_000;
    args[DialArg.accepted] = true;
    binding!.dial(...args);
    answer.resolve();
  };
  const onStats = (records: Float64Array, labels: string): void => {
    let at = 0;
    for (let i = 0; i < records.length; i += RECORD_FIELDS) {
      const code = records[i + RecordField.code]!;
      if (code === RecordCode.accepted) {
        const fd = records[i + RecordField.bytesIn]!;
        const length = records[i + RecordField.bytesOut]!;
        const port = Number(labels.slice(at, at + length).split(':').pop());
        at += length;
        const answer = answers.get(port);
        if (answer === undefined) {
          acceptedFds.set(port, fd);
        } else {
          answers.delete(port);
          dial(fd, answer);
        }
      } else if (code >= 0 && code < RecordCode.connectFailed) {
        const id = records[i + RecordField.id]!;
        if (closes.has(id)) errors.push(`relay ${id} closed twice`);
        closes.set(id, [records[i + RecordField.bytesIn]!, records[i + RecordField.bytesOut]!, code]);
      } else if (code !== RecordCode.live) {
        errors.push(`unexpected record code ${code}`);
      }
    }
  };
  const b: NativeEngineBinding = new (loadAddon().NativeRelayEngine)(onStats, {});
  binding = b;
  const opened = openReusePort(calls, '127.0.0.1', 0, 128);
  assert.ok('fd' in opened, String(opened));
  b.listen(LISTENER, opened.fd, false, 0, false);
  const [epfd] = b.stats().epollFds as number[];
  assert.ok(epfd !== undefined);
  return {
    binding: b, calls, port: opened.port, epfd, closes, errors,
    answer: (client, id, onFd) => new Promise<void>((resolve) => {
      const answer = { id, onFd, resolve };
      const fd = acceptedFds.get(client.localPort!);
      if (fd === undefined) {
        answers.set(client.localPort!, answer);
      } else {
        acceptedFds.delete(client.localPort!);
        dial(fd, answer);
      }
    }),
    async stop() {
      b.shutdown();
      calls.closeFd(opened.fd);
    },
  };
}

async function echoServer(): Promise<TestServer> {
  return listen((socket) => socket.pipe(socket));
}

/** A relay whose loop fd gets a second holder (the test's dup), closed by close(): its registration stays behind. */
async function staleRelay(h: Harness, id: number): Promise<{ peer: net.Socket; dup: number; inode: number }> {
  let dup = -1;
  const peer = await connectTo(h.port);
  peer.on('error', () => undefined);
  await h.answer(peer, id, (fd) => {
    dup = h.calls.dupFd(fd);
  });
  assert.ok(dup >= 0, `dupFd: ${dup}`);
  const inode = inodeOf(dup);
  const payload = randomBytes(700);
  const back = readBytes(peer, payload.length);
  peer.write(payload);
  assert.ok((await back).equals(payload));
  h.binding.close(id, CloseReasonCode.closed, null);
  await eventually(() => h.closes.get(id)?.[2] === CloseReasonCode.closed, 20_000, `relay ${id} closed`);
  h.closes.delete(id);
  return { peer, dup, inode };
}

/** One relay in three parts; `between` runs after each of the first two has come back. */
async function threePartRound(h: Harness, id: number, between: Array<() => Promise<void>>): Promise<number> {
  const client = await connectTo(h.port);
  await h.answer(client, id);
  let sent = 0;
  for (let part = 0; part < 3; part++) {
    // Under the pipe's slot count (256): a short read then counts as "socket empty", and after a FIN as its end.
    const payload = randomBytes(100 + part * 50);
    const back = readBytes(client, payload.length);
    client.write(payload);
    // A relay that took a stale FIN for its client's stops reading: this part would never come back (a hang guard,
    // not a timing check).
    let guard: NodeJS.Timeout | undefined;
    const got = await Promise.race([back, new Promise<null>((resolve) => {
      guard = setTimeout(() => resolve(null), 20_000);
    })]);
    clearTimeout(guard);
    assert.ok(got !== null, `relay ${id}: part ${part + 1} never came back (the relay stopped reading its client)`);
    assert.ok(got.equals(payload), `relay ${id}, part ${part + 1} came back whole`);
    sent += payload.length;
    if (part < 2) await between[part]!();
  }
  const ended = new Promise<void>((resolve, reject) => {
    client.once('end', resolve);
    client.once('error', reject);
    client.resume();
  });
  client.end();
  await ended;
  client.destroy();
  return sent;
}

describe('native relay: a registration that outlives its relay', {
  skip: skipNative || (reusePortCalls() === null ? 'no listenSocket in the addon' : false), timeout: 120_000,
}, () => {
  it('reaches no relay while new relays reuse its fd numbers and slots under churn; counts stay exact', async () => {
    const echo = await echoServer();
    const h = await harness(echo);
    const stale: Array<{ peer: net.Socket; dup: number; inode: number }> = [];
    try {
      // Ids are reused as JS reuses them (RelayTable): the lowest free one.
      for (let i = 0; i < 4; i++) stale.push(await staleRelay(h, 1));
      await eventually(
        () => stale.every((s) => watchedInodes(h.epfd).includes(s.inode)), 20_000,
        'the closed relays\' sockets still registered (held by a second fd): the case under test',
      );

      // Each stale socket in turn: data, then its FIN, then a reset, each while a new relay (the next one in its
      // slot, often on its fd number) is between two parts.
      let expected = 0;
      for (const [k, s] of stale.entries()) {
        // Each poke gives the loop a moment to take the stale event before the next part (without it the event may
        // come after that part's read, where even a misread one would change nothing this test sees).
        const pokes: Array<() => Promise<void>> = [
          async () => {
            s.peer.end(Buffer.alloc(64, k));
            await sleep(20);
          },
          async () => undefined,
        ];
        const sent = await threePartRound(h, 1, pokes);
        await eventually(() => h.closes.has(1), 20_000, 'relay 1 closed');
        assert.deepEqual(h.closes.get(1), [sent, sent, CloseReasonCode.done], 'counted exactly, ended by its client');
        h.closes.delete(1);
        const sent2 = await threePartRound(h, 1, [
          async () => {
            s.peer.resetAndDestroy();
            await sleep(20);
          },
          async () => undefined,
        ]);
        await eventually(() => h.closes.has(1), 20_000, 'relay 1 closed');
        assert.deepEqual(h.closes.get(1), [sent2, sent2, CloseReasonCode.done]);
        h.closes.delete(1);
        expected += 2;
      }
      assert.equal(expected, 2 * stale.length);

      // Churn: 20 at a time, ids and slots reused, the stale registrations still in place.
      for (const s of stale.splice(0)) h.calls.closeFd(s.dup);
      for (let i = 0; i < 4; i++) stale.push(await staleRelay(h, 1));
      let nextId = 1;
      const free: number[] = [];
      let rounds = 0;
      const worker = async (): Promise<void> => {
        while (rounds < 200) {
          rounds++;
          const id = free.pop() ?? nextId++;
          const poke = stale[rounds % stale.length]!;
          const sent = await threePartRound(h, id, [
            async () => {
              if (!poke.peer.destroyed) poke.peer.write('x');
            },
            async () => {
              if (rounds % 50 === 0) poke.peer.resetAndDestroy();
              else if (rounds % 25 === 0) poke.peer.end();
            },
          ]);
          await eventually(() => h.closes.has(id), 20_000, `relay ${id} closed`);
          assert.deepEqual(h.closes.get(id), [sent, sent, CloseReasonCode.done], `relay ${id} counted exactly`);
          h.closes.delete(id);
          free.push(id);
        }
      };
      await Promise.all(Array.from({ length: 20 }, worker));
      assert.equal(h.binding.stats().liveRelays, 0);
      assert.deepEqual(h.errors, []);
    } finally {
      for (const s of stale.splice(0)) {
        s.peer.destroy();
        h.calls.closeFd(s.dup);
      }
      await h.stop();
      await echo.close();
    }
  });
});
