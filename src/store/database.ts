import Database from 'better-sqlite3';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

export type Db = Database.Database;

/** One schema change, applied once in order; `id` never changes once released. */
export interface Migration {
  readonly id: string;
  readonly sql: string;
}

/**
 * Opens (creating its folder) the SQLite file in WAL mode with a busy timeout, and applies the migrations not yet
 * applied, each in its own transaction. Subsystems pass their own migrations; ids are namespaced (`usage/1`).
 * Called at start only, never on a request path.
 */
export async function openDatabase(file: string, migrations: readonly Migration[] = []): Promise<Db> {
  if (file !== ':memory:') await mkdir(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
  applyMigrations(db, migrations);
  return db;
}

export function applyMigrations(db: Db, migrations: readonly Migration[]): void {
  const applied = new Set((db.prepare('SELECT id FROM schema_migrations').all() as { id: string }[]).map((r) => r.id));
  const record = db.prepare('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)');
  for (const m of migrations) {
    if (applied.has(m.id)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.id, Date.now());
    })();
  }
}
