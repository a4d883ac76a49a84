/**
 * nginx as a bench peer: one worker process in the foreground, on 127.0.0.1, from a config written to a temp
 * directory (temp paths there too, so it needs no root and leaves nothing behind). Needs `apt-get install nginx`.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';
import { ManagedProcess } from './process.js';

export interface Nginx {
  readonly port: number;
  /** The master's pid and its worker's (together, nginx's CPU). */
  pids(): Promise<number[]>;
  stop(): Promise<void>;
}

/** Starts nginx with `httpLines` in its http block and `location` as its one server's `location /` body. */
export async function startNginx(label: string, httpLines: readonly string[], location: string): Promise<Nginx> {
  const dir = await mkdtemp(join(tmpdir(), `tidegate-${label}-`));
  const port = await freePort();
  const config = [
    'worker_processes 1;', 'daemon off;', `pid ${dir}/nginx.pid;`, `error_log ${dir}/error.log;`,
    'events { worker_connections 4096; }',
    'http {', '  access_log off;', ...httpLines.map((line) => `  ${line}`),
    `  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir};`,
    `  uwsgi_temp_path ${dir}; scgi_temp_path ${dir};`,
    `  server { listen 127.0.0.1:${port} backlog=4096; location / { ${location} } }`, '}',
  ].join('\n');
  await writeFile(join(dir, 'nginx.conf'), config);
  const child = new ManagedProcess(label, 'nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir]);
  await waitForPort(port, 10_000, () => child.assertAlive());
  return {
    port,
    async pids() {
      const children = await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').catch(() => '');
      return [child.pid, ...children.trim().split(/\s+/).filter(Boolean).map(Number)];
    },
    async stop() {
      await child.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
