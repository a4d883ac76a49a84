/**
 * Cost of one admin API change as the number of users grows: a running tidegate (config file + SQLite overlay
 * seeded with N API users, a forward service) answers POST /users, PATCH /users/:id and DELETE /users/:id, and the
 * whole-config validation those calls used to run is timed on its own. Prints medians per N.
 *
 *   node dist/bench/management-call.js [--users 1000,10000] [--calls 40]
 */
import Database from 'better-sqlite3';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliConfigSource } from '../src/cli/config-source.js';
import { mergeOverlay } from '../src/config/overlay.js';
import { validateConfig } from '../src/config/schema.js';
import { createLogger } from '../src/log.js';
import { Runtime } from '../src/runtime/runtime.js';
import { applyMigrations } from '../src/store/database.js';
import { OverlayStore, type OverlayChange } from '../src/store/overlay-store.js';

const args = process.argv.slice(2);
const at = (flag: string, fallback: string): string => {
  const i = args.indexOf(flag);
  return i === -1 ? fallback : args[i + 1]!;
};
const SIZES = at('--users', '1000,10000').split(',').map(Number);
const CALLS = Number(at('--calls', '40'));
const TOKEN = 'bench-token';

function median(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  return Math.round(sorted[sorted.length >> 1]! * 100) / 100;
}

function userDoc(i: number): Record<string, unknown> {
  return {
    id: `user-${i}`, quota: { bytes: '10GiB', period: 'monthly' }, rate: { in: '1MiB/s' },
    keys: [`key-${i}-${'x'.repeat(24)}`],
  };
}

async function measure(users: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tg-mgmt-bench-'));
  const file = join(dir, 'tidegate.json');
  const doc = {
    admin: { listen: '127.0.0.1:0', token: TOKEN },
    store: { sqlite: join(dir, 'tidegate.db') },
    log: { level: 'silent' },
    users: [{ id: 'owner' }],
    services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', user: 'owner', targets: ['127.0.0.1:9'] }],
  };
  await writeFile(file, JSON.stringify(doc));
  // The overlay as N POST /users would have left it, written straight into the store.
  const db = new Database(join(dir, 'tidegate.db'));
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
  applyMigrations(db, []);
  const store = new OverlayStore(db);
  const seed: OverlayChange[] = [];
  for (let i = 0; i < users; i++) seed.push({ op: 'put', kind: 'user', name: `user-${i}`, doc: userDoc(i) });
  store.apply(seed);
  const { overlay } = store.load();
  db.close();

  // What every call used to pay first: the merged document validated whole.
  const validate: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    validateConfig(mergeOverlay(doc, overlay).doc);
    validate.push(performance.now() - t);
  }

  const source = cliConfigSource({ command: 'start', config: file, forwards: [], watch: false, rest: [] });
  const runtime = await Runtime.start(await source.load(), { log: createLogger('silent'), source });
  const base = `http://${runtime.adminAddress()}`;
  const call = async (method: string, path: string, body?: unknown): Promise<number> => {
    const t = performance.now();
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status}`);
    return performance.now() - t;
  };
  const post: number[] = [];
  const patch: number[] = [];
  const del: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const id = `new-${i}`;
    post.push(await call('POST', '/users', { id, quota: { bytes: '1GiB' } }));
    patch.push(await call('PATCH', `/users/${id}`, { quota: { bytes: '2GiB' } }));
    del.push(await call('DELETE', `/users/${id}`));
  }
  await runtime.shutdown();
  await rm(dir, { recursive: true, force: true });
  console.log(`${String(users).padStart(6)} users: whole validation ${median(validate)} ms; ` +
    `POST /users ${median(post)} ms, PATCH ${median(patch)} ms, DELETE ${median(del)} ms (medians)`);
}

console.log('shared 2-core machine; medians');
for (const n of SIZES) await measure(n);
