import type { KeyHashConfig } from './types.js';

/** Where an item of the effective config comes from. */
export type Origin = 'file' | 'api';

/** What the admin API added: user and service documents in config-file syntax, and issued key hashes by user. */
export interface Overlay {
  readonly users: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
  readonly services: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
  readonly keys: ReadonlyMap<string, readonly KeyHashConfig[]>;
}

/** An API item shadowed by a file item of the same name: the file's wins, the API's stays stored but unused. */
export interface OverlayConflict {
  readonly kind: 'user' | 'service';
  readonly name: string;
  /** Where the file defines it (`users[2]`). */
  readonly path: string;
  readonly message: string;
}

export interface MergedDocument {
  readonly doc: Record<string, unknown>;
  readonly origins: { readonly users: ReadonlyMap<string, Origin>; readonly services: ReadonlyMap<string, Origin> };
  readonly conflicts: readonly OverlayConflict[];
}

export const EMPTY_OVERLAY: Overlay = { users: new Map(), services: new Map(), keys: new Map() };

/**
 * The file's document with the overlay's users and services appended after the file's own (so paths of file items
 * are unchanged) and issued key hashes added to their users. A name in both is a conflict: the file wins, because
 * the file is what the operator wrote and reviews; the API item reappears once the file drops the name.
 */
export function mergeOverlay(fileDoc: Readonly<Record<string, unknown>>, overlay: Overlay): MergedDocument {
  const conflicts: OverlayConflict[] = [];
  const userOrigins = new Map<string, Origin>();
  const serviceOrigins = new Map<string, Origin>();
  const users = mergeList(fileDoc.users, 'users', 'id', 'user', overlay.users, userOrigins, conflicts);
  const services = mergeList(
    fileDoc.services, 'services', 'name', 'service', overlay.services, serviceOrigins, conflicts,
  );
  const withKeys = users.map(function addIssuedKeys(item) {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return item;
    const record = item as Record<string, unknown>;
    const issued = typeof record.id === 'string' ? overlay.keys.get(record.id) : undefined;
    if (issued === undefined || issued.length === 0) return item;
    const own = Array.isArray(record.keyHashes) ? record.keyHashes : [];
    return { ...record, keyHashes: [...own, ...issued] };
  });
  const doc: Record<string, unknown> = { ...fileDoc };
  if (withKeys.length > 0 || fileDoc.users !== undefined) doc.users = withKeys;
  if (services.length > 0 || fileDoc.services !== undefined) doc.services = services;
  return { doc, origins: { users: userOrigins, services: serviceOrigins }, conflicts };
}

function mergeList(
  fileList: unknown, section: string, nameKey: string, kind: 'user' | 'service',
  api: ReadonlyMap<string, Readonly<Record<string, unknown>>>, origins: Map<string, Origin>,
  conflicts: OverlayConflict[],
): unknown[] {
  // A file list that is not a list is left for the validator to report.
  if (fileList !== undefined && fileList !== null && !Array.isArray(fileList)) return fileList as unknown[];
  const out: unknown[] = Array.isArray(fileList) ? [...fileList] : [];
  const fileNames = new Map<string, number>();
  out.forEach((item, i) => {
    const name = item && typeof item === 'object' ? (item as Record<string, unknown>)[nameKey] : undefined;
    if (typeof name === 'string') {
      fileNames.set(name, i);
      origins.set(name, 'file');
    }
  });
  for (const [name, item] of api) {
    const at = fileNames.get(name);
    if (at !== undefined) {
      const path = `${section}[${at}]`;
      const message =
        `${kind} "${name}" is defined in the config file (${path}) and by the admin API; the file's is used`;
      conflicts.push({ kind, name, path, message });
      continue;
    }
    origins.set(name, 'api');
    out.push(item);
  }
  return out;
}
