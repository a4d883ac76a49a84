import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { validateConfig } from '../../src/config/schema.js';
import { createLogger, type Logger } from '../../src/log.js';
import { Runtime } from '../../src/runtime/runtime.js';

export interface StartedGateway {
  readonly runtime: Runtime;
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly dir: string;
  readonly dbFile: string | null;
  close(): Promise<void>;
  /** Applies a new gateway section through the runtime's reload (same listen address: in-place update). */
  reload(gateway: Record<string, unknown>): Promise<void>;
}

export interface GatewayOptions {
  readonly users?: readonly { id: string; keys: string[]; quota?: Record<string, unknown> }[];
  /** Write the request log to SQLite (a temp file); off by default. */
  readonly sqlite?: boolean;
  readonly log?: Logger;
  /** The `pool` section (threads, jsonOffloadBytes, maxQueue). */
  readonly pool?: Record<string, unknown>;
  /** The top-level `gateway` section (bodyBudget, bodyTimeout), shared by every gateway service. */
  readonly limits?: Record<string, unknown>;
}

/** Starts tidegate in-process with one gateway service (name `llm`) on 127.0.0.1:0. */
export async function startGateway(gateway: Record<string, unknown>, options: GatewayOptions = {}): Promise<StartedGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'tidegate-gw-'));
  const dbFile = options.sqlite ? join(dir, 'runtime.db') : null;
  const build = (gw: Record<string, unknown>) => validateConfig({
    admin: { listen: 'off' },
    log: { level: 'silent' },
    store: { sqlite: dbFile ?? 'off' },
    pool: options.pool ?? { threads: 1 },
    ...(options.limits ? { gateway: options.limits } : {}),
    users: options.users ?? [],
    services: [{ name: 'llm', type: 'gateway', listen: '127.0.0.1:0', ...gw }],
  });
  const runtime = await Runtime.start(build(gateway), { log: options.log ?? createLogger('silent') });
  const listen = runtime.status().services[0]!.listen;
  return {
    runtime,
    url: `http://${listen}`,
    dir,
    dbFile,
    async reload(next: Record<string, unknown>) {
      const result = await runtime.reload(build(next));
      if (!result.ok) throw new Error(`reload failed: ${JSON.stringify(result.failed)}`);
    },
    async close() {
      await runtime.shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  json<T = Record<string, any>>(): T;
}

/** POSTs JSON (or raw bytes) and reads the whole answer. */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: payload });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

export async function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await request(url, { method: 'GET', headers });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

/** Splits an SSE body into events `{event, data}`. */
export function sseEvents(text: string): { event: string; data: string }[] {
  return text.split(/\n\n/).filter((b) => b.trim().length > 0).map((block) => {
    let event = '';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
    }
    return { event, data: data.join('\n') };
  });
}

export function chat(model: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model, messages: [{ role: 'user', content: 'Say hello' }], ...extra };
}

export function messages(model: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model, max_tokens: 64, messages: [{ role: 'user', content: 'Say hello' }], ...extra };
}

/** Waits until `check()` is true (polling), failing after `ms`. For states, never for timing claims. */
export async function waitFor(check: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function channelDetail(gw: StartedGateway, name: string): Record<string, any> {
  const detail = gw.runtime.status().services[0]!.detail as { channels: Record<string, any>[] };
  return detail.channels.find((c) => c.name === name)!;
}
