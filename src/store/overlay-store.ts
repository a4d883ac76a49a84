import type { Statement } from 'better-sqlite3';
import type { KeyHashConfig } from '../config/types.js';
import type { Overlay } from '../config/overlay.js';
import { applyMigrations, type Db, type Migration } from './database.js';

/** Users, services and issued keys made through the admin API (the overlay on the config file). */
export const OVERLAY_MIGRATIONS: readonly Migration[] = [
  {
    id: 'overlay/1',
    sql: `CREATE TABLE api_items (
      kind TEXT NOT NULL CHECK (kind IN ('user', 'service')),
      name TEXT NOT NULL,
      doc TEXT NOT NULL,
      updated_at INTEGER NOT NULL,
      PRIMARY KEY (kind, name)
    ) WITHOUT ROWID;
    CREATE TABLE api_keys (
      id TEXT PRIMARY KEY,
      user TEXT NOT NULL,
      sha256 TEXT NOT NULL UNIQUE,
      created_at INTEGER NOT NULL
    );
    CREATE INDEX api_keys_user ON api_keys (user);`,
  },
];

export type ItemKind = 'user' | 'service';

export interface IssuedKey extends KeyHashConfig {
  readonly user: string;
  readonly createdAt: number;
}

/** One change to the overlay, applied in one transaction. */
export type OverlayChange =
  | { readonly op: 'put'; readonly kind: ItemKind; readonly name: string; readonly doc: Record<string, unknown> }
  | { readonly op: 'delete'; readonly kind: ItemKind; readonly name: string }
  | { readonly op: 'addKey'; readonly key: IssuedKey }
  | { readonly op: 'deleteKey'; readonly id: string }
  | { readonly op: 'deleteKeysOf'; readonly user: string };

/**
 * The overlay in SQLite. Admin-API calls only (never a traffic path): a few small synchronous statements each,
 * like the ledger's start-up reads.
 */
export class OverlayStore {
  private readonly putItem: Statement;
  private readonly deleteItem: Statement;
  private readonly insertKey: Statement;
  private readonly deleteKeyById: Statement;
  private readonly deleteKeysByUser: Statement;
  private readonly selectItems: Statement;
  private readonly selectKeys: Statement;
  private readonly applyAll: (changes: readonly OverlayChange[], now: number) => void;

  constructor(db: Db) {
    applyMigrations(db, OVERLAY_MIGRATIONS);
    this.putItem = db.prepare(`INSERT INTO api_items (kind, name, doc, updated_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (kind, name) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at`);
    this.deleteItem = db.prepare('DELETE FROM api_items WHERE kind = ? AND name = ?');
    this.insertKey = db.prepare('INSERT INTO api_keys (id, user, sha256, created_at) VALUES (?, ?, ?, ?)');
    this.deleteKeyById = db.prepare('DELETE FROM api_keys WHERE id = ?');
    this.deleteKeysByUser = db.prepare('DELETE FROM api_keys WHERE user = ?');
    this.selectItems = db.prepare('SELECT kind, name, doc FROM api_items ORDER BY kind, name');
    this.selectKeys = db.prepare('SELECT id, user, sha256, created_at FROM api_keys ORDER BY created_at, id');
    this.applyAll = db.transaction((changes: readonly OverlayChange[], now: number) => {
      for (const c of changes) this.applyOne(c, now);
    });
  }

  apply(changes: readonly OverlayChange[], now = Date.now()): void {
    this.applyAll(changes, now);
  }

  /** The overlay as the merge reads it, and the issued keys with their owners and times. */
  load(): { overlay: Overlay; keys: IssuedKey[] } {
    const users = new Map<string, Record<string, unknown>>();
    const services = new Map<string, Record<string, unknown>>();
    for (const row of this.selectItems.all() as { kind: ItemKind; name: string; doc: string }[]) {
      (row.kind === 'user' ? users : services).set(row.name, JSON.parse(row.doc) as Record<string, unknown>);
    }
    const byUser = new Map<string, KeyHashConfig[]>();
    const keys: IssuedKey[] = [];
    const rows = this.selectKeys.all() as { id: string; user: string; sha256: string; created_at: number }[];
    for (const row of rows) {
      keys.push({ id: row.id, user: row.user, sha256: row.sha256, createdAt: row.created_at });
      let list = byUser.get(row.user);
      if (list === undefined) byUser.set(row.user, (list = []));
      list.push({ id: row.id, sha256: row.sha256 });
    }
    return { overlay: { users, services, keys: byUser }, keys };
  }

  private applyOne(c: OverlayChange, now: number): void {
    switch (c.op) {
      case 'put':
        this.putItem.run(c.kind, c.name, JSON.stringify(c.doc), now);
        return;
      case 'delete':
        this.deleteItem.run(c.kind, c.name);
        return;
      case 'addKey':
        this.insertKey.run(c.key.id, c.key.user, c.key.sha256, c.key.createdAt);
        return;
      case 'deleteKey':
        this.deleteKeyById.run(c.id);
        return;
      case 'deleteKeysOf':
        this.deleteKeysByUser.run(c.user);
        return;
    }
  }
}
