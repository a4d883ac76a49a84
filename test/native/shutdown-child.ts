// Child process of shutdown.test.ts: relays a few connections, then ends in the way argv[2] asks, and must exit by
// itself (no process.exit): a hanging epoll thread or a referenced ThreadSafeFunction would keep it alive.
import { closeServer, connect, listen, newEngine, portOf, startFront, until } from './harness.js';

async function run(mode: 'shutdown' | 'idle'): Promise<void> {
  const engine = newEngine();
  const target = await listen((s) => s.pipe(s));
  const front = await startFront(engine, portOf(target));
  if (mode === 'shutdown') {
    const clients = await Promise.all([connect(front.port), connect(front.port), connect(front.port)]);
    await until(() => front.relays.length === 3, 'relays');
    await engine.shutdown();
    const reasons = new Set(front.closed.map((c) => c.result.reason));
    console.log(`closed ${front.closed.length} ${[...reasons].join(',')}`);
    for (const c of clients) c.destroy();
  } else {
    const client = await connect(front.port);
    client.resume();
    await until(() => front.relays.length === 1, 'relay');
    client.end();
    await front.closeOf(0);
    console.log(`closed ${front.closed.length} ${front.closed[0]!.result.reason}`);
    client.destroy();
  }
  await Promise.all([closeServer(front.server), closeServer(target)]);
  console.log('exiting');
}

// `node --test dist/test/` also runs helper files under test/: without a mode this file does nothing.
const mode = process.argv[2];
if (mode === 'shutdown' || mode === 'idle') await run(mode);
