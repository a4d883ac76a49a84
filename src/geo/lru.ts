/**
 * Bounded LRU on a Map (insertion order = recency): a hit re-inserts the key, an insert past `max` evicts the
 * oldest. `max` 0 disables caching. Values may be null (a known miss is worth caching too).
 */
export class LruCache<V> {
  private readonly map = new Map<string, V>();
  hits = 0;
  misses = 0;
  constructor(readonly max: number) {}

  get size(): number {
    return this.map.size;
  }

  /** The value, or undefined when absent (counted as a miss). */
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.map.delete(key);
    this.map.set(key, v);
    return v;
  }

  set(key: string, value: V): void {
    if (this.max <= 0) return;
    if (this.map.has(key)) this.map.delete(key);
    else if (this.map.size >= this.max) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.set(key, value);
  }

  clear(): void {
    this.map.clear();
  }
}
