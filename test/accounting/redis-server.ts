import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { freePort } from '../helpers/servers.js';
import { Redis } from 'ioredis';

/** Whether a redis-server binary is on PATH (the Redis tests skip with a message when it is not). */
export const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0;

/** A real redis-server on 127.0.0.1 and a random port; `stop()` saves to `dir` so `start()` brings the data back. */
export class RedisServer {
  readonly dir: string;
  port = 0;
  private child: ChildProcess | null = null;

  constructor(dir: string) {
    this.dir = dir;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const child = spawn('redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--dbfilename', 'dump.rdb',
      '--save', '', '--appendonly', 'no', '--protected-mode', 'no',
    ], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.child = child;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('Ready to accept connections')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
    });
  }

  /** SHUTDOWN SAVE: the data survives into the next start(). */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === null) return;
    const client = this.client();
    const exited = once(child, 'exit');
    await client.call('SHUTDOWN', 'SAVE').catch(() => undefined);
    client.disconnect();
    await exited;
    this.child = null;
  }

  client(): Redis {
    const client = new Redis(this.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    return client;
  }

  async kill(): Promise<void> {
    if (this.child === null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    await exited;
    this.child = null;
  }
}
