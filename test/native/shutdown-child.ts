// Child process of shutdown.test.ts: relays a few connections, then ends in the way argv[2] asks, and must exit by
// itself (no process.exit): a hanging epoll thread or a referenced ThreadSafeFunction would keep it alive.
import { newEngine, startFront } from './harness.js';
import { connectTo } from '../helpers/sockets.js';
import { listen } from '../helpers/listen.js';
import { eventually } from '../helpers/wait.js';

async function run(mode: 'shutdown' | 'idle'): Promise<void> {
  const engine = newEngine();
  const target = await listen((s) => s.pipe(s));
  const front = await startFront(engine, target.port);
  if (mode === 'shutdown') {
    const clients = await Promise.all([connectTo(front.port), connectTo(front.port), connectTo(front.port)]);
    await eventually(() => front.relays.length === 3, 20_000, 'relays');
    await engine.shutdown();
    const reasons = new Set(front.closed.map((c) => c.result.reason));
    console.log(`closed ${front.closed.length} ${[...reasons].join(',')}`);
    for (const c of clients) c.destroy();
  } else {
    const client = await connectTo(front.port);
    client.resume();
    await eventually(() => front.relays.length === 1, 20_000, 'relay');
    client.end();
    await front.closeOf(0);
    console.log(`closed ${front.closed.length} ${front.closed[0]!.result.reason}`);
    client.destroy();
  }
  await Promise.all([front.server.close(), target.close()]);
  console.log('exiting');
}

// `node --test dist/test/` also runs helper files under test/: without a mode this file does nothing.
const mode = process.argv[2];
if (mode === 'shutdown' || mode === 'idle') await run(mode);
