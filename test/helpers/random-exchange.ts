import assert from 'node:assert/strict';
import { listen, type TestServer } from './listen.js';
import { connectTo, hashUntilEnd, sendRandom } from './sockets.js';
import { eventually } from './wait.js';

/** What a random-exchange target's connection saw: the hash of what it sent, and what it received. */
export interface TargetSide {
  readonly sentHash: string;
  readonly received: { readonly hash: string; readonly bytes: number };
}

/** A target that hashes what it receives while it sends `size` random bytes back, then ends its side. */
export interface RandomTarget extends TestServer {
  /** What its latest connection saw, once the client's side has ended. */
  side(): Promise<TargetSide>;
}

export async function randomTarget(size: number): Promise<RandomTarget> {
  let side: Promise<TargetSide> | null = null;
  const server = await listen((socket) => {
    side = (async () => {
      const received = hashUntilEnd(socket);
      const sentHash = await sendRandom(socket, size);
      socket.end();
      return { sentHash, received: await received };
    })();
  });
  return {
    ...server,
    async side(): Promise<TargetSide> {
      await eventually(() => side !== null, 5_000, 'target connection');
      return side!;
    },
  };
}

/**
 * Connects to `port` (a relay in front of `target`), sends `size` random bytes and ends while reading to the end;
 * asserts that both directions arrived whole and unchanged.
 */
export async function exchangeRandom(port: number, size: number, target: RandomTarget): Promise<void> {
  const client = await connectTo(port);
  const received = hashUntilEnd(client);
  const sent = await sendRandom(client, size);
  client.end();
  const got = await received;
  const t = await target.side();
  assert.equal(t.received.bytes, size);
  assert.equal(t.received.hash, sent, 'client→target bytes differ');
  assert.equal(got.bytes, size);
  assert.equal(got.hash, t.sentHash, 'target→client bytes differ');
}
