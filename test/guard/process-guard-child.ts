// Runs tidegate's runtime with the process guard installed, then lets an exception and a rejection escape every
// handler: the parent checks the forward service still relays and the log says what happened.
// `node --test dist/test/` also loads this file, with no target: then it does nothing.
import { installProcessGuard } from '../../src/guard/process.js';
import { createLogger } from '../../src/log.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { testConfig } from '../helpers/tidegate.js';

const target = process.argv[2];
if (target !== undefined) await serve(target);

async function serve(target: string): Promise<void> {
  const log = createLogger('info');
  const runtime = await Runtime.start(
    testConfig({
      log: { level: 'info' },
      services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target] }],
    }),
    { log },
  );
  installProcessGuard(log);
  process.stdin.on('data', function command(chunk: Buffer) {
    const word = chunk.toString().trim();
    if (word === 'throw') {
      setImmediate(() => {
        throw Object.assign(new Error('escaped on purpose'), { headers: { authorization: 'Bearer sk-secret-1' } });
      });
    } else if (word === 'reject') void Promise.reject(new Error('rejected on purpose'));
    else if (word === 'stop') void runtime.shutdown().then(() => process.exit(0));
  });
  process.stdout.write(`READY ${runtime.status().services[0]!.listen}\n`);
}
