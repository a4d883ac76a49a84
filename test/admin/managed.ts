import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch, type Headers } from 'undici';
import { cliConfigSource } from '../../src/cli/config-source.js';
import { createLogger } from '../../src/log.js';
import { Runtime } from '../../src/runtime/runtime.js';

/** A tidegate started the way the CLI starts it: a JSON config file in a temp dir, with a SQLite store there. */
export interface Managed {
  runtime: Runtime;
  readonly dir: string;
  readonly file: string;
  readonly base: string;
  /** Rewrites the config file (the store and admin stay as given at start unless `doc` says otherwise). */
  writeConfig(doc: Record<string, unknown>): Promise<void>;
  /** Stops and starts again on the same file and store (the admin API moves to a new port). */
  restart(): Promise<void>;
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiAnswer>;
  stop(): Promise<void>;
}

export interface ApiAnswer {
  readonly status: number;
  readonly body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  readonly headers: Headers;
}

export const TOKEN = 'mgmt-write-token';

export function baseDoc(dir: string, doc: Record<string, unknown>): Record<string, unknown> {
  return {
    admin: { listen: '127.0.0.1:0', token: TOKEN },
    store: { sqlite: join(dir, 'tidegate.db') },
    log: { level: 'silent' },
    shutdownGrace: '1s',
    ...doc,
  };
}

export async function startManaged(doc: Record<string, unknown>, token = TOKEN): Promise<Managed> {
  const dir = await mkdtemp(join(tmpdir(), 'tg-mgmt-'));
  const file = join(dir, 'tidegate.json');
  let current = baseDoc(dir, doc);
  await writeFile(file, JSON.stringify(current));
  const source = cliConfigSource({ command: 'start', config: file, forwards: [], watch: false, rest: [] });
  const boot = async (): Promise<Runtime> => Runtime.start(
    await source.load(), { log: createLogger('silent'), source },
  );
  // One connection pool per run: a restart may bind the admin API to the same address, and a keep-alive connection
  // to the stopped run, whose close the client has not read yet, would fail the next request ("other side closed").
  let agent = new Agent();
  const m: Managed = {
    runtime: await boot(),
    dir,
    file,
    get base(): string {
      return `http://${m.runtime.adminAddress()}`;
    },
    async writeConfig(next) {
      current = baseDoc(dir, next);
      await writeFile(file, JSON.stringify(current));
    },
    async restart() {
      await m.runtime.shutdown();
      await agent.close();
      agent = new Agent();
      m.runtime = await boot();
    },
    async api(method, path, body, headers = {}) {
      const res = await fetch(`${m.base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        dispatcher: agent,
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* text (metrics) */
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async stop() {
      await m.runtime.shutdown();
      await agent.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return m;
}
