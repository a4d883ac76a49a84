/** Marked entries one eviction may pass over before it takes the next regardless. */
const SECOND_CHANCES = 32;

/**
 * A bounded cache with least-recently-used eviction, approximated by second chance: a hit only marks its entry, and
 * eviction walks from the oldest insert, moving marked entries to the back (unmarked) until it finds an unmarked one.
 *
 * Why not re-insert on every hit (the exact LRU on a Map): a delete + set per hit fills the Map's table with holes, so
 * it is rehashed every few hits, and V8 keeps each retired table linked to its successor; once one of them is
 * promoted, that garbage chain holds every later key alive through young-generation collections. Here a hit writes a
 * boolean, and the Map changes only on inserts and evictions.
 *
 * `max` 0 disables caching. Values may be null (a known miss is worth caching too).
 */
export class LruCache<V> {
  private readonly map = new Map<string, CacheEntry<V>>();
  private maxEntries: number;
  hits = 0;
  misses = 0;
  evicted = 0;

  constructor(max: number) {
    this.maxEntries = max;
  }

  get max(): number {
    return this.maxEntries;
  }

  get size(): number {
    return this.map.size;
  }

  /** The value, or undefined when absent (counted as a miss). A hit marks the entry as recently used. */
  get(key: string): V | undefined {
    const entry = this.map.get(key);
    if (entry === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    entry.used = true;
    return entry.value;
  }

  /** The value without counting or marking anything. */
  peek(key: string): V | undefined {
    return this.map.get(key)?.value;
  }

  set(key: string, value: V): void {
    if (this.maxEntries <= 0) return;
    const entry = this.map.get(key);
    if (entry !== undefined) {
      entry.value = value;
      entry.used = true;
      return;
    }
    if (this.map.size >= this.maxEntries) this.evictOne();
    this.map.set(key, new CacheEntry(value));
  }

  delete(key: string): boolean {
    return this.map.delete(key);
  }

  /** A new bound; entries beyond it are evicted now. */
  resize(max: number): void {
    this.maxEntries = max;
    while (this.map.size > Math.max(0, max)) this.evictOne();
  }

  clear(): void {
    this.map.clear();
  }

  /**
   * Evicts the oldest unmarked entry, unmarking and moving back the marked ones it passes; after SECOND_CHANCES of
   * them it evicts the next one marked or not, so one insert never walks a large, busy cache.
   */
  private evictOne(): void {
    const map = this.map;
    for (let moved = 0; map.size > 0; moved++) {
      const [key, entry] = map.entries().next().value as [string, CacheEntry<V>];
      map.delete(key);
      if (!entry.used || moved === SECOND_CHANCES) {
        this.evicted++;
        return;
      }
      entry.used = false;
      map.set(key, entry);
    }
  }
}

class CacheEntry<V> {
  value: V;
  used = false;
  constructor(value: V) {
    this.value = value;
  }
}
