/**
 * A node:cluster worker for accept.test.ts: runs a forward service in-process on the shared port it is given and
 * reports whether the native engine accepts for it (round-robin: the primary accepts, so the worker's listener has no
 * fd and Node's path stays; SCHED_NONE: the worker's listener is the primary's socket, which Node keeps too) and who
 * holds the socket, then serves until told to stop.
 */
import type { Server } from 'node:net';
import { startTidegate } from '../helpers/tidegate.js';
import { socketHolder } from '../../src/listen/listen.js';
import type { NativeRelayEngine } from '../../src/relay/native/index.js';

async function run(port: number, target: string): Promise<void> {
  const tg = await startTidegate({
    services: [{ name: 'fwd', type: 'forward', listen: `127.0.0.1:${port}`, targets: [target] }],
  });
  const engine = tg.runtime.engine as NativeRelayEngine;
  const services = (tg.runtime as unknown as { services: Map<string, { server: Server }> }).services;
  process.send!({
    kind: engine.kind,
    listeners: engine.kind === 'native' ? engine.nativeStats().listeners : -1,
    holder: socketHolder(services.get('fwd')!.server),
  });
  process.on('message', (message) => {
    if (message === 'stop') void tg.stop().then(() => process.exit(0));
  });
}

// `node --test dist/test/` also runs helper files under test/: outside a cluster worker this file does nothing.
const target = process.env['ACCEPT_TEST_TARGET'];
if (process.send !== undefined && target !== undefined) await run(Number(process.env['ACCEPT_TEST_PORT']), target);
