import assert from 'node:assert/strict';
import { readdirSync, readlinkSync, readSync } from 'node:fs';
import { describe, it } from 'node:test';
import type net from 'node:net';
import { RelayHandoverError } from '../../src/errors.js';
import { canDetach, detachSocket } from '../../src/relay/native/handover.js';
import { fdTarget, inodeOf, newEngine, skipNative, startFront, watchedInodes } from './harness.js';
import { connectTo } from '../helpers/sockets.js';
import { listen, type TestServer } from '../helpers/listen.js';
import { eventually, sleep } from '../helpers/wait.js';

/**
 * The hand-over relies on Node internals (`socket._handle.fd`, `readStop()`, `reading`). These tests fail loudly when
 * a Node version changes them; they need no addon except the last one.
 */

async function pair(onServer: (socket: net.Socket) => void): Promise<{ server: TestServer; client: net.Socket }> {
  const server = await listen(onServer);
  const client = await connectTo(server.port);
  return { server, client };
}

/** Socket inode numbers watched by each epoll instance of this process: epoll fd -> inodes (from fdinfo). */
function epollWatches(): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const name of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue;
    }
    if (target !== 'anon_inode:[eventpoll]') continue;
    out.set(Number(name), watchedInodes(Number(name)));
  }
  return out;
}

describe('native relay: hand-over from Node (internal API)', { timeout: 30_000 }, () => {
  it('exposes a socket fd through _handle and returns the bytes Node already buffered', async () => {
    const { server, client } = await pair((s) => s.write('banner:'));
    await eventually(() => client.readableLength >= 7, 20_000, 'banner buffered in Node');
    assert.equal(canDetach(client), true);
    const { fd, pending } = detachSocket(client);
    assert.equal(typeof fd, 'number');
    assert.ok(fd >= 0);
    assert.match(fdTarget(fd), /^socket:\[\d+\]$/, 'Node internals changed: _handle.fd is not the socket fd');
    assert.equal(pending?.toString(), 'banner:');
    client.destroy();
    await server.close();
  });

  it('stops libuv reading: later bytes stay in the kernel for the new owner', async () => {
    let serverSide: net.Socket | null = null;
    const { server, client } = await pair((s) => {
      serverSide = s;
    });
    await eventually(() => serverSide !== null, 20_000, 'accept');
    const { fd, pending } = detachSocket(client);
    assert.equal(pending, null);
    let sawData = false;
    client.on('data', () => (sawData = true));
    serverSide!.write('after-detach');
    await sleep(100); // give libuv every chance to read, if it still watched the fd
    assert.equal(sawData, false, 'Node internals changed: readStop() did not stop libuv reading');
    assert.equal(client.readableLength, 0);
    const buf = Buffer.alloc(64);
    const n = readSync(fd, buf); // the bytes are still in the kernel, for whoever owns the fd next
    assert.equal(buf.subarray(0, n).toString(), 'after-detach');
    client.destroy();
    await server.close();
  });

  it('refuses destroyed and still-connecting sockets with RelayHandoverError', async () => {
    const { server, client } = await pair(() => {});
    client.destroy();
    assert.equal(canDetach(client), false);
    assert.throws(() => detachSocket(client), RelayHandoverError);
    const { connect: netConnect } = await import('node:net');
    const connecting = netConnect({ port: server.port, host: '127.0.0.1' });
    assert.equal(canDetach(connecting), false);
    assert.throws(() => detachSocket(connecting), RelayHandoverError);
    connecting.destroy();
    await server.close();
  });

  it('refuses a TLS socket (its fd carries ciphertext) with RelayHandoverError', async () => {
    const { TLSSocket } = await import('node:tls');
    const { server, client } = await pair(() => {});
    const tls = new TLSSocket(client);
    assert.equal(canDetach(tls), false);
    assert.throws(() => detachSocket(tls), /got a TLS socket/);
    tls.destroy();
    client.destroy();
    await server.close();
  });

  it('leaves no libuv epoll registration on a handed-over socket: only the addon watches it', {
    skip: skipNative,
  }, async () => {
    const engine = newEngine();
    const target = await listen((s) => s.pipe(s));
    let inodes: number[] = [];
    const front = await startFront(engine, target.port, {
      beforeStart(client, t) {
        const handleFd = (s: net.Socket): number => (s as unknown as { _handle: { fd: number } })._handle.fd;
        inodes = [inodeOf(handleFd(client)), inodeOf(handleFd(t))];
      },
    });
    const client = await connectTo(front.port);
    await eventually(() => front.relays.length === 1, 20_000, 'relay start');
    const echoed = new Promise<string>((resolve) => client.once('data', (d: Buffer) => resolve(d.toString())));
    client.write('ping');
    assert.equal(await echoed, 'ping');
    const addonEpoll = engine.nativeStats().epollFds;
    const watches = epollWatches();
    for (const inode of inodes) {
      const watchers = [...watches].filter(([, list]) => list.includes(inode)).map(([fd]) => fd);
      assert.deepEqual(
        watchers, [...addonEpoll], `socket inode ${inode} is watched by epoll fds ${watchers.join(',')}`,
      );
    }
    client.end();
    await front.closeOf(0);
    await engine.shutdown();
    await Promise.all([front.server.close(), target.close()]);
  });
});
