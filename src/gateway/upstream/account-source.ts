import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCredentialIndex, type CredentialIndex } from '../../credentials/credential-index.js';
import type { CredentialEntry } from '../../credentials/types.js';
import type { Logger } from '../../log.js';
import type { WorkerPool } from '../../pool/pool.js';
import type { Channel } from './channel.js';
import { UpstreamCredential } from './key-ring.js';

/** The nestings the credential scanner accepts; the access token sits next to the refresh token. */
const NEST_KEYS = ['claudeAiOauth', 'token', 'tokens', 'oauth', 'credentials'] as const;

/**
 * Feeds a `credentialsDir` channel's key ring from the pool's credential index: after each scan, the access token
 * of every account whose entry changed is read (async, off the request path) and the ring is replaced. Accounts
 * that expired stay in the ring so `GET /status` reports them as skipped; unreadable files are reported too.
 */
export class AccountSource {
  private readonly channel: Channel;
  private readonly dir: string;
  private readonly index: CredentialIndex;
  private readonly log: Logger;
  /** accountId → the credential built from the entry it came from. */
  private loaded = new Map<string, { entry: CredentialEntry; credential: UpstreamCredential }>();
  private closed = false;

  constructor(channel: Channel, dir: string, pool: WorkerPool, log: Logger) {
    this.channel = channel;
    this.dir = dir;
    this.log = log;
    this.index = createCredentialIndex(dir, pool, { log });
  }

  /** First scan and load; rejects with CredentialsDirError when the directory cannot be scanned. */
  async start(): Promise<void> {
    await this.index.ready();
    await this.sync();
    this.follow();
  }

  private follow(): void {
    if (this.closed) return;
    const source = this;
    this.index.nextUpdate().then(function credentialsChanged() {
      if (source.closed) return undefined;
      return source.sync();
    }).catch(function credentialsSyncFailed(err: unknown) {
      source.log.warn(
        { err, dir: source.dir, channel: source.channel.name },
        'credentials reload failed; keeping the previous accounts',
      );
    }).finally(function followAgain() {
      source.follow();
    });
  }

  private async sync(): Promise<void> {
    const next = new Map<string, { entry: CredentialEntry; credential: UpstreamCredential }>();
    const problems: { file: string; reason: string }[] = [];
    const wanted = new Map<string, CredentialEntry>();
    for (const e of this.index.accounts()) wanted.set(e.accountId, e);
    // Accounts known before that only expired since: kept, so they are reported (and skipped) rather than lost.
    for (const id of this.loaded.keys()) {
      if (!wanted.has(id)) {
        const e = this.index.get(id);
        if (e !== null) wanted.set(id, e);
      }
    }
    for (const e of wanted.values()) {
      const old = this.loaded.get(e.accountId);
      if (old !== undefined && old.entry === e) {
        next.set(e.accountId, old);
        continue;
      }
      const token = await readAccessToken(join(this.dir, e.file));
      if (token === null) {
        problems.push({ file: e.file, reason: 'no access token (access_token / accessToken)' });
        continue;
      }
      next.set(e.accountId, {
        entry: e, credential: new UpstreamCredential(e.accountId, token, true, e.expiresAt ?? Infinity),
      });
    }
    for (const [file, reason] of this.index.invalid()) problems.push({ file, reason });
    // The index lists only live accounts; the ones it holds beyond them have expired access tokens.
    let expiredUnknown = this.index.stats().accounts - this.index.accounts().length;
    for (const v of next.values()) if (v.credential.expiresAt <= Date.now()) expiredUnknown--;
    if (expiredUnknown > 0) {
      problems.push({ file: `${expiredUnknown} account(s)`, reason: 'access token expired (skipped until refreshed)' });
    }
    if (this.closed) return;
    this.loaded = next;
    this.channel.keys.replace([...next.values()].map((v) => v.credential));
    this.channel.accountProblems = problems;
  }

  close(): void {
    this.closed = true;
    this.index.close();
  }

  /** The credential index's cache figures, for GET /cache. */
  stats(): ReturnType<CredentialIndex['stats']> {
    return this.index.stats();
  }
}

async function readAccessToken(file: string): Promise<string | null> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return null;
  }
  if (typeof doc !== 'object' || doc === null) return null;
  let src = doc as Record<string, unknown>;
  for (const k of NEST_KEYS) {
    const inner = src[k];
    if (typeof inner === 'object' && inner !== null && !Array.isArray(inner)) {
      src = { ...src, ...(inner as Record<string, unknown>) };
      break;
    }
  }
  const token = src.access_token ?? src.accessToken;
  return typeof token === 'string' && token.length > 0 ? token : null;
}
