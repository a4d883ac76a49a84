import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../../test/fixtures/blackhole.py', import.meta.url));

/** A loopback port whose connects hang (full accept queue); close() ends it. */
export async function blackhole(): Promise<{ port: number; close(): void }> {
  const child: ChildProcess = spawn('python3', [SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return { port: Number(line.toString().trim()), close: () => child.kill() };
}
