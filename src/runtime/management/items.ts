import { createHash } from 'node:crypto';
import type { ServiceItem, UserItem } from '../../contracts/admin-api.js';

export type { ServiceItem, UserItem };

/** An item and its version: `etag` goes out as ETag and comes back as If-Match. */
export interface Versioned<T> {
  readonly item: T;
  readonly etag: string;
}

/** `POST /users/:id/keys`: the only time the key itself is seen. */
export interface IssuedKeyReply {
  readonly id: string;
  readonly user: string;
  readonly key: string;
  readonly createdAt: string;
}

/** The ETag of an item: a hash of what it is (its live status left out, which changes by itself). */
export function versioned<T extends UserItem | ServiceItem>(item: T): Versioned<T> {
  const { status: _status, ...stable } = item as T & { status?: unknown };
  const hash = createHash('sha256').update(JSON.stringify(stable)).digest('base64url').slice(0, 22);
  return { item, etag: `"${hash}"` };
}

export function etagMatches(ifMatch: string, etag: string): boolean {
  if (ifMatch.trim() === '*') return true;
  return ifMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}
