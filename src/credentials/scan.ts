import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { CredentialsDirError } from '../errors.js';
import type { CredentialEntry, CredentialIndexData, InvalidCredential } from './types.js';

/** Reads at most this many files at once: thousands of files must not exhaust descriptors. */
export const DEFAULT_SCAN_CONCURRENCY = 16;
/** A credential file is a few hundred bytes; anything this big is not one. */
const MAX_FILE_BYTES = 1 << 20;

/**
 * Scans a directory tree of OAuth credential JSON files (runs in a pool worker). Accepted shapes, all JSON
 * objects: flat (`refresh_token`/`refreshToken`, `expires_at`/`expiresAt`/`expiry_date`/`expiry`, `provider`/`type`,
 * `account_id`/`accountId`/`email`), or the same fields nested one level under `claudeAiOauth`, `token`,
 * `tokens`, `oauth` or `credentials`. Expiry may be epoch ms, epoch seconds or an ISO date. Without an account
 * field the file name (minus `.json`) is the account id; without a provider, the nesting key or the parent folder.
 */
export async function scanCredentialDir(
  dir: string, files: readonly string[] | null, concurrency = DEFAULT_SCAN_CONCURRENCY,
): Promise<CredentialIndexData> {
  let targets: string[];
  if (files === null) {
    try {
      const st = await stat(dir);
      if (!st.isDirectory()) throw new CredentialsDirError(dir, 'not a directory');
      const all = await readdir(dir, { recursive: true, withFileTypes: true });
      targets = [];
      for (const d of all) {
        if (!d.isFile() || !d.name.endsWith('.json') || d.name.startsWith('.')) continue;
        const parent = (d as unknown as { parentPath?: string; path?: string }).parentPath ??
          (d as unknown as { path: string }).path;
        targets.push(toPosix(relative(dir, join(parent, d.name))));
      }
      targets.sort();
    } catch (err) {
      if (err instanceof CredentialsDirError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new CredentialsDirError(
        dir, e.code === 'ENOENT' ? 'does not exist' : `cannot be read: ${e.code ?? e.message}`,
      );
    }
  } else targets = files.filter((f) => f.endsWith('.json') && !basename(f).startsWith('.')).map(toPosix);

  const results: (CredentialEntry | InvalidCredential | null)[] = new Array(targets.length).fill(null);
  let next = 0;
  async function readLoop(): Promise<void> {
    while (next < targets.length) {
      const i = next++;
      results[i] = await readOne(dir, targets[i]!);
    }
  }
  const loops: Promise<void>[] = [];
  for (let k = 0; k < Math.max(1, Math.min(concurrency, targets.length)); k++) loops.push(readLoop());
  await Promise.all(loops);

  const entries: CredentialEntry[] = [];
  const invalid: InvalidCredential[] = [];
  const missing: string[] = [];
  const seen = new Map<string, string>();
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    if (r === null || r === undefined) {
      missing.push(targets[i]!);
      continue;
    }
    if ('reason' in r) {
      invalid.push(r);
      continue;
    }
    const other = seen.get(r.accountId);
    if (other !== undefined) {
      invalid.push({ file: r.file, reason: `duplicate account id "${r.accountId}" (also in ${other})` });
      continue;
    }
    seen.set(r.accountId, r.file);
    entries.push(r);
  }
  return { dir, scannedAt: Date.now(), entries, invalid, missing, complete: files === null };
}

function toPosix(p: string): string {
  return sep === '/' ? p : p.split(sep).join('/');
}

const NEST_KEYS = ['claudeAiOauth', 'token', 'tokens', 'oauth', 'credentials'] as const;
const PROVIDER_BY_NEST: Record<string, string> = { claudeAiOauth: 'claude' };

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function pick(o: Obj, keys: readonly string[]): unknown {
  for (const k of keys) if (o[k] !== undefined && o[k] !== null && o[k] !== '') return o[k];
  return undefined;
}

/** Reads and checks one file; null when it vanished between listing and reading. */
async function readOne(dir: string, file: string): Promise<CredentialEntry | InvalidCredential | null> {
  let data: Buffer;
  try {
    data = await readFile(join(dir, file));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return null;
    return { file, reason: `unreadable: ${e.code ?? e.message}` };
  }
  if (data.length === 0) return { file, reason: 'empty file (half-written?)' };
  if (data.length > MAX_FILE_BYTES) return { file, reason: `too large for a credential file (${data.length} bytes)` };
  let doc: unknown;
  try {
    doc = JSON.parse(data.toString('utf8'));
  } catch (err) {
    return { file, reason: `not valid JSON (half-written?): ${(err as Error).message}` };
  }
  if (!isObj(doc)) return { file, reason: 'expected a JSON object' };
  let src: Obj = doc;
  let nestedProvider: string | undefined;
  for (const k of NEST_KEYS) {
    const inner = doc[k];
    if (isObj(inner)) {
      src = { ...doc, ...inner };
      nestedProvider = PROVIDER_BY_NEST[k];
      break;
    }
  }
  const refresh = pick(src, ['refresh_token', 'refreshToken']);
  if (typeof refresh !== 'string') {
    return {
      file,
      reason: refresh === undefined
        ? 'no refresh token (refresh_token / refreshToken)'
        : 'refresh token is not a string',
    };
  }
  const rawExpiry = pick(src, ['expires_at', 'expiresAt', 'expiry_date', 'expiry', 'expires']);
  let expiresAt: number | null = null;
  if (rawExpiry !== undefined) {
    expiresAt = parseExpiry(rawExpiry);
    if (expiresAt === null) {
      return { file, reason: `expiry is not a date or epoch time: ${JSON.stringify(rawExpiry).slice(0, 60)}` };
    }
  }
  const account = pick(src, ['account_id', 'accountId', 'email', 'account']);
  let accountId: string;
  if (typeof account === 'string') accountId = account;
  else if (typeof account === 'number') accountId = String(account);
  else if (isObj(account) && typeof pick(account, ['id', 'email', 'uuid']) === 'string') {
    accountId = pick(account, ['id', 'email', 'uuid']) as string;
  }
  else accountId = file.slice(0, -'.json'.length);
  const provider = pick(src, ['provider', 'type']);
  const parent = basename(dirname(file));
  return {
    accountId,
    file,
    provider: typeof provider === 'string'
      ? provider
      : nestedProvider ?? (parent && parent !== '.' ? parent : 'unknown'),
    expiresAt,
    refreshTokenSha256: createHash('sha256').update(refresh).digest('hex'),
  };
}

function parseExpiry(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v < 1e12 ? Math.round(v * 1000) : Math.round(v);
  if (typeof v === 'string') {
    if (/^\d+$/.test(v)) return parseExpiry(Number(v));
    const t = Date.parse(v);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}
