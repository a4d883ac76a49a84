import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type net from 'node:net';
import { loadAddon } from '../../src/relay/native/binding.js';
import { inodeOf, skipNative, watchedInodes } from './harness.js';
import { connectTo } from '../helpers/sockets.js';
import { listen } from '../helpers/listen.js';
import { eventually, sleep } from '../helpers/wait.js';

/**
 * A relay's close must take its fds out of the loop's epoll even when the addon's dup is not the last reference to
 * the socket: Node's fd of a handed-over socket lives until the JS thread destroys it (after start()/dial() return,
 * so possibly after the loop already closed the relay), and a forked child holds a copy of every fd until it execs.
 * close(2) drops an epoll registration only with the last reference; a registration that survived once named the
 * freed relay by address, and the socket's next event was a use after free (the SIGSEGV of the SOCKS5 churn test and
 * of a fuzz child). Events now name a relay by slot and serial (stale-registration.test.ts), and a socket Node also
 * holds is still deregistered: it would report events for as long as Node keeps it. Here Node's fds are kept open on
 * purpose, the widest such window.
 */

function handleFd(socket: net.Socket): number {
  return (socket as unknown as { _handle: { fd: number } })._handle.fd;
}

function detachKeepingFd(socket: net.Socket): number {
  socket.pause();
  const handle = (socket as unknown as { _handle: { readStop(): number; reading: boolean } })._handle;
  handle.readStop();
  handle.reading = false;
  return handleFd(socket);
}

describe('native relay: epoll registrations end with the relay', { skip: skipNative, timeout: 30_000 }, () => {
  it('deregisters both fds of a closed relay while Node still holds its own fds of the sockets', async () => {
    const accepted: net.Socket[] = [];
    const server = await listen((socket) => accepted.push(socket));
    const peerOfClient = await connectTo(server.port);
    peerOfClient.on('error', () => {});
    await eventually(() => accepted.length === 1, 20_000, 'first accept');
    const peerOfTarget = await connectTo(server.port);
    await eventually(() => accepted.length === 2, 20_000, 'second accept');
    const [clientSide, targetSide] = accepted as [net.Socket, net.Socket];
    const inodes = [inodeOf(handleFd(clientSide)), inodeOf(handleFd(targetSide))];

    const records: number[] = [];
    const { NativeRelayEngine } = loadAddon();
    const binding = new NativeRelayEngine((batch) => records.push(...batch), {});
    try {
      binding.start(1, detachKeepingFd(clientSide), detachKeepingFd(targetSide), null, null, 0, 0, 0, 0);
      const [epfd] = binding.stats().epollFds as number[];
      assert.ok(epfd !== undefined);
      await eventually(
        () => inodes.every((i) => watchedInodes(epfd).includes(i)), 20_000, 'both sockets watched by the addon',
      );

      peerOfClient.resetAndDestroy(); // the relay ends with client_reset; Node's fds keep both sockets open
      await eventually(() => records.length >= 4, 20_000, 'close record');
      assert.deepEqual(records.slice(0, 4), [1, 0, 0, 1], 'relay 1 closed: client_reset');
      // The loop frees the relay after it sent the record: wait for that (a busy machine delays it), not a fixed time.
      // A registration that is never dropped still fails, at the deadline, with what is left.
      const left = await eventually(
        () => watchedInodes(epfd).filter((i) => inodes.includes(i)), (l) => l.length === 0, 20_000,
        'a closed relay\'s sockets to leave the addon\'s epoll',
      ).catch(() => watchedInodes(epfd).filter((i) => inodes.includes(i)));
      assert.deepEqual(
        left, [], 'a closed relay\'s socket is still registered in the addon\'s epoll (dangling Endpoint)',
      );
      // An event on the still-open target socket: with a stale registration this was a use after free.
      peerOfTarget.write('x');
      await sleep(150);
    } finally {
      binding.shutdown();
      clientSide.destroy();
      targetSide.destroy();
      peerOfTarget.destroy();
      await server.close();
    }
  });
});
