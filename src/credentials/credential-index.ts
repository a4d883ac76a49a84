import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from '../log.js';
import type { WorkerPool } from '../pool/pool.js';
import { scanInPool } from './offload.js';
import type { CredentialEntry, CredentialIndexData } from './types.js';

export const DEFAULT_CREDENTIAL_TTL_MS = 5 * 60_000;
/** fs.watch fires several events per write; changes within this window go to the pool as one partial scan. */
const WATCH_DEBOUNCE_MS = 50;

export interface CredentialIndexOptions {
  /** Full rescan interval (default 5 min), whatever fs.watch says. */
  readonly ttlMs?: number;
  /** Watch the directory and re-read changed files (default true). */
  readonly watch?: boolean;
  readonly log?: Logger;
}

export interface CredentialIndexStats {
  readonly accounts: number;
  readonly invalid: number;
  readonly scans: number;
  readonly partialScans: number;
  readonly failedScans: number;
  readonly lastScanAt: number;
}

/**
 * The main thread's view of a credentials directory, scanned in the pool. Lookups are O(1) Map reads; the
 * directory is rescanned every `ttlMs` and changed files are re-read after fs.watch events (well under a second).
 */
export interface CredentialIndex {
  /** First scan; rejects with CredentialsDirError when the directory cannot be scanned. */
  ready(): Promise<void>;
  /** Valid accounts whose access token has not expired (or has no expiry). */
  accounts(): readonly CredentialEntry[];
  /** The account's entry (even when expired: its refresh token still works), or null. */
  get(accountId: string): CredentialEntry | null;
  /** Files skipped, with the reason. */
  invalid(): ReadonlyMap<string, string>;
  /** Full rescan now. */
  refresh(): Promise<void>;
  /** Resolves after the next completed scan (full or partial): lets callers wait for a change to land. */
  nextUpdate(): Promise<void>;
  stats(): CredentialIndexStats;
  close(): void;
}

export function createCredentialIndex(
  dir: string, pool: WorkerPool, opts: CredentialIndexOptions = {},
): CredentialIndex {
  return new PooledCredentialIndex(dir, pool, opts);
}

class PooledCredentialIndex implements CredentialIndex {
  private byAccount = new Map<string, CredentialEntry>();
  private byFile = new Map<string, CredentialEntry>();
  private invalidFiles = new Map<string, string>();
  private live: CredentialEntry[] = [];
  /** `live` stays valid until the earliest expiry among its entries. */
  private liveUntil = 0;
  private liveDirty = true;
  private readonly ttlMs: number;
  private ttlTimer: NodeJS.Timeout | null = null;
  private watcher: FSWatcher | null = null;
  private changed = new Set<string>();
  private fullRescanWanted = false;
  private debounce: NodeJS.Timeout | null = null;
  private scanning: Promise<void> | null = null;
  private waiters: (() => void)[] = [];
  private closed = false;
  private scans = 0;
  private partialScans = 0;
  private failedScans = 0;
  private lastScanAt = 0;

  constructor(
    private readonly dir: string, private readonly pool: WorkerPool, private readonly opts: CredentialIndexOptions,
  ) {
    this.ttlMs = opts.ttlMs ?? DEFAULT_CREDENTIAL_TTL_MS;
  }

  async ready(): Promise<void> {
    this.apply(await scanInPool(this.pool, this.dir));
    if (this.closed) return;
    this.ttlTimer = setInterval(() => this.schedule(null), this.ttlMs);
    this.ttlTimer.unref();
    if (this.opts.watch !== false) {
      try {
        this.watcher = watch(
          this.dir, { recursive: true, persistent: false },
          (_event, filename) => this.schedule(filename === null ? null : String(filename)),
        );
        this.watcher.on('error', (err) => {
          this.opts.log?.warn({ err, dir: this.dir }, 'credentials watch failed; relying on the TTL rescan');
        });
      } catch (err) {
        this.opts.log?.warn({ err, dir: this.dir }, 'cannot watch credentials directory; relying on the TTL rescan');
      }
    }
  }

  accounts(): readonly CredentialEntry[] {
    const now = Date.now();
    if (this.liveDirty || now >= this.liveUntil) this.rebuildLive(now);
    return this.live;
  }

  get(accountId: string): CredentialEntry | null {
    return this.byAccount.get(accountId) ?? null;
  }

  invalid(): ReadonlyMap<string, string> {
    return this.invalidFiles;
  }

  refresh(): Promise<void> {
    this.fullRescanWanted = true;
    return this.runScan();
  }

  nextUpdate(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  stats(): CredentialIndexStats {
    return {
      accounts: this.byAccount.size, invalid: this.invalidFiles.size, scans: this.scans,
      partialScans: this.partialScans, failedScans: this.failedScans, lastScanAt: this.lastScanAt,
    };
  }

  close(): void {
    this.closed = true;
    if (this.ttlTimer) clearInterval(this.ttlTimer);
    if (this.debounce) clearTimeout(this.debounce);
    this.watcher?.close();
    this.watcher = null;
  }

  /** A file changed (or, with null, something we cannot name): re-read it soon. */
  private schedule(file: string | null): void {
    if (this.closed) return;
    if (file === null) this.fullRescanWanted = true;
    else this.changed.add(file.split('\\').join('/'));
    if (this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = null;
      this.runScan().catch(() => { /* counted and logged in runScan */ });
    }, WATCH_DEBOUNCE_MS);
  }

  /** One scan at a time; changes arriving during a scan are picked up by the next one. */
  private runScan(): Promise<void> {
    if (this.scanning) return this.scanning.then(() => this.runScan());
    const full = this.fullRescanWanted;
    const files = full ? undefined : Array.from(this.changed);
    this.fullRescanWanted = false;
    this.changed = new Set();
    if (!full && files!.length === 0) return Promise.resolve();
    this.scanning = scanInPool(this.pool, this.dir, files).then(
      (data) => {
        this.scanning = null;
        if (!this.closed) this.apply(data);
      },
      (err: unknown) => {
        this.scanning = null;
        this.failedScans++;
        this.opts.log?.warn({ err, dir: this.dir }, 'credentials scan failed; keeping the previous index');
        if (full) throw err;
      },
    );
    return this.scanning;
  }

  private apply(data: CredentialIndexData): void {
    if (data.complete) {
      this.scans++;
      this.byAccount = new Map();
      this.byFile = new Map();
      this.invalidFiles = new Map();
    } else {
      this.partialScans++;
      const touched = [...data.missing, ...data.entries.map((e) => e.file), ...data.invalid.map((i) => i.file)];
      for (const file of touched) {
        const old = this.byFile.get(file);
        if (old) {
          this.byFile.delete(file);
          if (this.byAccount.get(old.accountId) === old) this.byAccount.delete(old.accountId);
          // A file skipped as a duplicate of this account may now be the one to keep: rescan everything.
          if (this.hasDuplicateOf(old.accountId)) this.schedule(null);
        }
        this.invalidFiles.delete(file);
      }
    }
    for (const inv of data.invalid) this.invalidFiles.set(inv.file, inv.reason);
    for (const e of data.entries) {
      const other = this.byAccount.get(e.accountId);
      if (other && other.file !== e.file) {
        this.invalidFiles.set(e.file, `duplicate account id "${e.accountId}" (also in ${other.file})`);
        continue;
      }
      this.byAccount.set(e.accountId, e);
      this.byFile.set(e.file, e);
    }
    this.lastScanAt = data.scannedAt;
    this.liveDirty = true;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private hasDuplicateOf(accountId: string): boolean {
    const prefix = `duplicate account id "${accountId}"`;
    for (const reason of this.invalidFiles.values()) if (reason.startsWith(prefix)) return true;
    return false;
  }

  private rebuildLive(now: number): void {
    const live: CredentialEntry[] = [];
    let until = Number.POSITIVE_INFINITY;
    for (const e of this.byAccount.values()) {
      if (e.expiresAt !== null && e.expiresAt <= now) continue;
      live.push(e);
      if (e.expiresAt !== null && e.expiresAt < until) until = e.expiresAt;
    }
    this.live = live;
    this.liveUntil = until;
    this.liveDirty = false;
  }
}
