import { AdminBadRequestError } from '../../errors.js';

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

import type { Page } from '../../contracts/admin-api.js';

export type { Page };

/** One page of `names` (sorted) after `cursor` (the last name of the previous page, base64url). */
export function page<T>(
  names: readonly string[], limit: number, cursor: string | null, item: (name: string) => T,
): Page<T> {
  const sorted = [...names].sort();
  let start = 0;
  if (cursor !== null) {
    const after = Buffer.from(cursor, 'base64url').toString('utf8');
    start = sorted.findIndex((n) => n > after);
    if (start === -1) start = sorted.length;
  }
  const slice = sorted.slice(start, start + limit);
  const more = start + limit < sorted.length;
  return {
    items: slice.map(item),
    nextCursor: more && slice.length > 0 ? Buffer.from(slice[slice.length - 1]!, 'utf8').toString('base64url') : null,
  };
}

/** `limit` and `cursor` of a list request; 400 for a bad limit. */
export function pageParams(query: URLSearchParams): { limit: number; cursor: string | null } {
  const raw = query.get('limit');
  const limit = raw === null ? DEFAULT_PAGE : Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new AdminBadRequestError(`limit must be an integer from 1 to ${MAX_PAGE}, got "${raw}"`);
  }
  return { limit, cursor: query.get('cursor') };
}
