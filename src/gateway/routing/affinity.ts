import { LruCache } from '../../util/lru-cache.js';

/**
 * Session affinity: session key → channel name, in a bounded LRU with TTL. Expired entries are dropped when read,
 * and eviction takes the least recently used first: no timers per session. A hit writes nothing but a mark (see
 * LruCache), so the steady state of a session's requests costs one Map lookup.
 */
export class AffinityTable {
  private readonly cache: LruCache<AffinityEntry>;
  private ttlMs: number;
  hits = 0;
  misses = 0;
  dropped = 0;

  constructor(maxEntries: number, ttlMs: number) {
    this.cache = new LruCache(maxEntries);
    this.ttlMs = ttlMs;
  }

  reconfigure(maxEntries: number, ttlMs: number): void {
    this.cache.resize(maxEntries);
    this.ttlMs = ttlMs;
  }

  get size(): number {
    return this.cache.size;
  }

  stats(): { size: number; max: number; hits: number; misses: number; hitRate: number } {
    const lookups = this.hits + this.misses;
    return {
      size: this.cache.size, max: this.cache.max, hits: this.hits, misses: this.misses,
      hitRate: lookups === 0 ? 0 : this.hits / lookups,
    };
  }

  /** The channel name for `key`, or null (missing or expired). A hit counts as a use for eviction. */
  get(key: string, now: number): string | null {
    const entry = this.cache.get(key);
    if (entry === undefined) {
      this.misses++;
      return null;
    }
    if (entry.expiresAt <= now) {
      this.cache.delete(key);
      this.misses++;
      return null;
    }
    this.hits++;
    return entry.channel;
  }

  /** Remembers (or refreshes) `key` → `channel` for `ttlMs`. */
  set(key: string, channel: string, now: number): void {
    const existing = this.cache.peek(key);
    if (existing !== undefined) {
      // The usual case: get() found it moments ago and already counted the use.
      existing.channel = channel;
      existing.expiresAt = now + this.ttlMs;
      return;
    }
    this.cache.set(key, new AffinityEntry(channel, now + this.ttlMs));
  }

  /** Drops an entry whose channel can no longer serve it (down, open circuit, removed). */
  drop(key: string): void {
    if (this.cache.delete(key)) this.dropped++;
  }

  snapshot(): Record<string, number> {
    return {
      size: this.cache.size, maxEntries: this.cache.max, ttlMs: this.ttlMs, hits: this.hits, misses: this.misses,
      dropped: this.dropped, evicted: this.cache.evicted,
    };
  }
}

class AffinityEntry {
  channel: string;
  expiresAt: number;
  constructor(channel: string, expiresAt: number) {
    this.channel = channel;
    this.expiresAt = expiresAt;
  }
}
