/** A resolved name: its addresses (IPv4 first), or null for a name with none (negatively cached). */
export class CachedName {
  readonly addresses: readonly string[] | null;
  readonly expiresAt: number;
  constructor(addresses: readonly string[] | null, expiresAt: number) {
    this.addresses = addresses;
    this.expiresAt = expiresAt;
  }
}

/**
 * Resolved names until their TTL passes, at most `max` (the least recently inserted goes first: a Map keeps
 * insertion order, and a name's entry is replaced on every refresh, so busy names stay at the young end).
 */
export class NameCache {
  private readonly map = new Map<string, CachedName>();
  private max: number;
  hits = 0;
  negativeHits = 0;
  misses = 0;
  expired = 0;
  evicted = 0;

  constructor(max: number) {
    this.max = max;
  }

  get size(): number {
    return this.map.size;
  }

  /** The live entry, or undefined (absent or expired: a miss). */
  get(name: string, now: number): CachedName | undefined {
    const entry = this.map.get(name);
    if (entry === undefined) {
      this.misses++;
      return undefined;
    }
    if (entry.expiresAt <= now) {
      this.map.delete(name);
      this.expired++;
      this.misses++;
      return undefined;
    }
    if (entry.addresses === null) this.negativeHits++;
    else this.hits++;
    return entry;
  }

  /** The live entry without counting (the caller counts a hit it uses). */
  peek(name: string, now: number): CachedName | undefined {
    const entry = this.map.get(name);
    return entry === undefined || entry.expiresAt <= now ? undefined : entry;
  }

  set(name: string, entry: CachedName): void {
    if (this.max === 0) return;
    this.map.delete(name);
    while (this.map.size >= this.max) {
      this.map.delete(this.map.keys().next().value!);
      this.evicted++;
    }
    this.map.set(name, entry);
  }

  resize(max: number): void {
    this.max = max;
    while (this.map.size > max) {
      this.map.delete(this.map.keys().next().value!);
      this.evicted++;
    }
  }

  clear(): void {
    this.map.clear();
  }
}
