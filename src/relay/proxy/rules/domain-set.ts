/**
 * From this many keywords on, each name's keyword answer is remembered (a lookup costs less than the scan). The
 * memo is a plain map started over when full: an LRU's bookkeeping cost more than the scan it saved when most names
 * are new (bench proxy-rules), a map lookup does not.
 */
const KEYWORD_CACHE_FROM = 16;
const KEYWORD_CACHE_SIZE = 10_000;

/**
 * Domain matching for routing rules: exact names and suffixes in hash maps keyed by the name (a suffix is looked up
 * once per label boundary, i.e. the reversed-label walk), keywords by substring. Each entry keeps the lowest rule
 * index that added it, so a block of consecutive rules answers "the first rule that matches" in one walk.
 */
export class DomainSet {
  private readonly full = new Map<string, number>();
  private readonly suffix = new Map<string, number>();
  private readonly keywords: string[] = [];
  private readonly keywordRule: number[] = [];
  /** Name → its lowest keyword rule (-1: none), once there are many keywords. */
  private keywordCache: Map<string, number> | null = null;

  get size(): number {
    return this.full.size + this.suffix.size + this.keywords.length;
  }

  addFull(name: string, rule: number): void {
    const key = normalizeName(name);
    const had = this.full.get(key);
    if (had === undefined || had > rule) this.full.set(key, rule);
  }

  /** `example.com` matches itself and every name under it (`a.example.com`), never `badexample.com`. */
  addSuffix(name: string, rule: number): void {
    const key = normalizeName(name);
    const had = this.suffix.get(key);
    if (had === undefined || had > rule) this.suffix.set(key, rule);
  }

  addKeyword(word: string, rule: number): void {
    this.keywords.push(word.toLowerCase());
    this.keywordRule.push(rule);
    if (this.keywords.length >= KEYWORD_CACHE_FROM) this.keywordCache = new Map<string, number>();
  }

  /** Copies every entry of `other` in under rule index `rule` (a rule set referenced by one rule). */
  addAll(other: DomainSet, rule: number): void {
    for (const key of other.full.keys()) this.addFull(key, rule);
    for (const key of other.suffix.keys()) this.addSuffix(key, rule);
    for (const word of other.keywords) this.addKeyword(word, rule);
  }

  /**
   * The lowest rule index matching `name` (already lower case, no trailing dot), or -1. Allocates one substring per
   * label for the suffix walk, none per entry.
   */
  match(name: string): number {
    let best = -1;
    const exact = this.full.get(name);
    if (exact !== undefined) best = exact;
    if (this.suffix.size > 0) {
      let from = 0;
      while (from < name.length) {
        const rule = this.suffix.get(from === 0 ? name : name.slice(from));
        if (rule !== undefined && (best === -1 || rule < best)) best = rule;
        const dot = name.indexOf('.', from);
        if (dot === -1) break;
        from = dot + 1;
      }
    }
    const cache = this.keywordCache;
    if (cache === null) return this.matchKeywords(name, best);
    let keyword = cache.get(name);
    if (keyword === undefined) {
      keyword = this.matchKeywords(name, -1);
      if (cache.size >= KEYWORD_CACHE_SIZE) cache.clear();
      cache.set(name, keyword);
    }
    return keyword !== -1 && (best === -1 || keyword < best) ? keyword : best;
  }

  /** The lowest of `best` and the keyword rules found in `name`. */
  private matchKeywords(name: string, best: number): number {
    const words = this.keywords;
    for (let i = 0; i < words.length; i++) {
      const rule = this.keywordRule[i]!;
      if ((best === -1 || rule < best) && name.includes(words[i]!)) best = rule;
    }
    return best;
  }
}

/** Lower case without a trailing dot: `Example.COM.` and `example.com` are the same name. */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}
