import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { RuleSetConfig } from '../../../config/types.js';
import { RuleSetError } from '../../../errors.js';
import type { Logger } from '../../../log.js';
import { parseRuleSet, type RuleSetData } from './rule-set-file.js';

/** Edits arrive as several events (truncate, write, rename): one re-read after they settle. */
const WATCH_DEBOUNCE_MS = 200;

/** A rule set's state for /status. */
export interface RuleSetStatus {
  readonly name: string;
  readonly file: string;
  readonly format: string;
  readonly entries: number;
  readonly loadedAt: string | null;
  /** Why the last read failed (the previous contents stay in force), or null. */
  readonly error: string | null;
}

class LoadedSet {
  readonly config: RuleSetConfig;
  data: RuleSetData | null = null;
  loadedAt: string | null = null;
  /** The text in force (a reload that finds the same text changes nothing). */
  text: string | null = null;
  error: string | null = null;
  watcher: FSWatcher | null = null;
  timer: NodeJS.Timeout | null = null;
  constructor(config: RuleSetConfig) {
    this.config = config;
  }
}

/**
 * The rule-set files of one proxy service: read asynchronously (never on a request path), re-read when a file
 * changes (watching its directory, so editors that replace the file are seen) and on refresh(). A file that cannot
 * be read or parsed keeps the previous contents in force; the failure is logged and shown in status().
 */
export class RuleSetStore {
  private sets = new Map<string, LoadedSet>();
  private readonly log: Logger;
  private readonly service: string;
  private readonly changed: () => void;
  private closed = false;

  /** `changed` runs after any set's contents change (the service rebuilds its router then). */
  constructor(service: string, log: Logger, changed: () => void) {
    this.service = service;
    this.log = log;
    this.changed = changed;
  }

  /** The sets in force by name (a set whose first read failed is absent: its rules match nothing). */
  data(): Map<string, RuleSetData> {
    const out = new Map<string, RuleSetData>();
    for (const [name, set] of this.sets) if (set.data !== null) out.set(name, set.data);
    return out;
  }

  /**
   * Takes a new list of sets: unchanged ones (same name, file and format) keep their contents and watcher, the
   * rest are read now. Resolves when every new set was read (or failed, keeping what it had).
   */
  async configure(configs: readonly RuleSetConfig[]): Promise<void> {
    const next = new Map<string, LoadedSet>();
    const fresh: LoadedSet[] = [];
    for (const c of configs) {
      const old = this.sets.get(c.name);
      if (old !== undefined && old.config.file === c.file && old.config.format === c.format) {
        next.set(c.name, old);
        continue;
      }
      const set = new LoadedSet(c);
      // A set whose file or format changed keeps answering with its old contents until the new read lands.
      if (old !== undefined) set.data = old.data;
      next.set(c.name, set);
      fresh.push(set);
    }
    for (const [name, old] of this.sets) if (next.get(name) !== old) this.unwatch(old);
    this.sets = next;
    for (const set of fresh) this.watchSet(set);
    await Promise.all(fresh.map((s) => this.load(s)));
    if (fresh.length > 0) this.changed();
  }

  /** Re-reads every file (POST /reload, SIGHUP); true when any set's contents changed. */
  async refresh(): Promise<boolean> {
    const results = await Promise.all([...this.sets.values()].map((s) => this.load(s, true)));
    const changed = results.some(Boolean);
    if (changed) this.changed();
    return changed;
  }

  /** The first read's failures, as errors (a service does not start on a rule set it cannot read). */
  failures(): RuleSetError[] {
    const out: RuleSetError[] = [];
    for (const set of this.sets.values()) {
      if (set.data === null && set.error !== null) out.push(new RuleSetError(set.config.file, set.error));
    }
    return out;
  }

  status(): RuleSetStatus[] {
    return [...this.sets.values()].map((s) => ({
      name: s.config.name, file: s.config.file, format: s.config.format, entries: s.data?.entries ?? 0,
      loadedAt: s.loadedAt, error: s.error,
    }));
  }

  close(): void {
    this.closed = true;
    for (const set of this.sets.values()) this.unwatch(set);
  }

  /**
   * Reads and parses one file; true when its contents in force changed (`onlyIfDifferent`: the same text as last
   * time is no change).
   */
  private async load(set: LoadedSet, onlyIfDifferent = false): Promise<boolean> {
    const { file, format, name } = set.config;
    let data: RuleSetData;
    try {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new RuleSetError(file, e.code === 'ENOENT' ? 'file not found' : `cannot read: ${e.code ?? e.message}`);
      }
      if (onlyIfDifferent && set.data !== null && set.error === null && text === set.text) return false;
      data = parseRuleSet(text, file, format);
      set.text = text;
    } catch (err) {
      const message = err instanceof RuleSetError ? err.message.slice(`rule set ${file}: `.length) : String(err);
      set.error = message;
      this.log.warn(
        { service: this.service, ruleSet: name, file, err: message },
        set.data === null ? 'rule set unreadable' : 'rule set unreadable; keeping the previous contents',
      );
      return false;
    }
    if (this.sets.get(name) !== set || this.closed) return false;
    set.data = data;
    set.error = null;
    set.loadedAt = new Date().toISOString();
    this.log.info({ service: this.service, ruleSet: name, file, entries: data.entries }, 'rule set loaded');
    return true;
  }

  private watchSet(set: LoadedSet): void {
    const store = this;
    const file = set.config.file;
    const base = basename(file);
    try {
      set.watcher = watch(dirname(file), { persistent: false }, function ruleSetDirChanged(_event, changed) {
        if (changed !== null && changed !== base) return;
        if (set.timer !== null) clearTimeout(set.timer);
        set.timer = setTimeout(function reloadRuleSet() {
          set.timer = null;
          void store.load(set).then(function afterWatchLoad(changedContents) {
            if (changedContents && !store.closed) store.changed();
          });
        }, WATCH_DEBOUNCE_MS);
        set.timer.unref();
      });
      set.watcher.on('error', function ruleSetWatchFailed(err: Error) {
        store.log.warn({ service: store.service, file, err: err.message }, 'rule set watch failed; reload to re-read');
      });
    } catch (err) {
      // A directory that does not exist yet: POST /reload still re-reads the file.
      this.log.warn({ service: this.service, file, err: (err as Error).message }, 'cannot watch rule set file');
    }
  }

  private unwatch(set: LoadedSet): void {
    set.watcher?.close();
    set.watcher = null;
    if (set.timer !== null) clearTimeout(set.timer);
    set.timer = null;
  }
}
