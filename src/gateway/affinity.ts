/**
 * Session affinity: session key → channel name, in a bounded LRU with TTL. A Map keeps insertion order, so the
 * first key is the least recently used (a hit re-inserts). Expired entries are dropped when read, and evicted
 * first-in-order when the map is full: no timers per session.
 */
export class AffinityTable {
  private readonly map = new Map<string, AffinityEntry>();
  private maxEntries: number;
  private ttlMs: number;
  hits = 0;
  misses = 0;
  dropped = 0;
  evicted = 0;

  constructor(maxEntries: number, ttlMs: number) {
    this.maxEntries = maxEntries;
    this.ttlMs = ttlMs;
  }

  reconfigure(maxEntries: number, ttlMs: number): void {
    this.maxEntries = maxEntries;
    this.ttlMs = ttlMs;
    while (this.map.size > maxEntries) this.evictOldest();
  }

  get size(): number {
    return this.map.size;
  }

  stats(): { size: number; max: number; hits: number; misses: number; hitRate: number } {
    const lookups = this.hits + this.misses;
    return { size: this.map.size, max: this.maxEntries, hits: this.hits, misses: this.misses, hitRate: lookups === 0 ? 0 : this.hits / lookups };
  }

  /** The channel name for `key`, or null (missing or expired). A hit refreshes the entry's LRU position. */
  get(key: string, now: number): string | null {
    const entry = this.map.get(key);
    if (entry === undefined) {
      this.misses++;
      return null;
    }
    if (entry.expiresAt <= now) {
      this.map.delete(key);
      this.misses++;
      return null;
    }
    this.hits++;
    this.map.delete(key);
    this.map.set(key, entry);
    return entry.channel;
  }

  /** Remembers (or refreshes) `key` → `channel` for `ttlMs`. */
  set(key: string, channel: string, now: number): void {
    if (this.maxEntries === 0) return;
    const existing = this.map.get(key);
    if (existing !== undefined && existing.channel === channel) {
      // The usual case: get() found it moments ago and already made it the most recent.
      existing.expiresAt = now + this.ttlMs;
      return;
    }
    if (existing !== undefined) {
      this.map.delete(key);
      existing.channel = channel;
      existing.expiresAt = now + this.ttlMs;
      this.map.set(key, existing);
      return;
    }
    if (this.map.size >= this.maxEntries) this.evictOldest();
    this.map.set(key, new AffinityEntry(channel, now + this.ttlMs));
  }

  /** Drops an entry whose channel can no longer serve it (down, open circuit, removed). */
  drop(key: string): void {
    if (this.map.delete(key)) this.dropped++;
  }

  private evictOldest(): void {
    const oldest = this.map.keys().next();
    if (!oldest.done) {
      this.map.delete(oldest.value);
      this.evicted++;
    }
  }

  snapshot(): Record<string, number> {
    return { size: this.map.size, maxEntries: this.maxEntries, ttlMs: this.ttlMs, hits: this.hits, misses: this.misses, dropped: this.dropped, evicted: this.evicted };
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
