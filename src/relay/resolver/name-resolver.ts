import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { ResolverConfig } from '../../config/types.js';
import { readHostsFile, type HostsTable } from './hosts-file.js';
import { CachedName, NameCache } from './name-cache.js';

interface RecordWithTtl {
  address: string;
  ttl: number;
}

/** Answers that mean "this name has no address" (cached negatively); anything else (timeouts) is not cached. */
const NO_ADDRESS = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN', 'NODATA']);

/** `localhost` (and `*.localhost`, RFC 6761) without a query: IPv4 loopback only, as allowDestinations expect. */
const LOCALHOST: readonly string[] = ['127.0.0.1'];

/** Counters for GET /cache. */
export interface ResolverStats {
  size: number;
  hits: number;
  negativeHits: number;
  misses: number;
  hitRate: number;
  expired: number;
  evicted: number;
  queries: number;
  deduplicated: number;
  failures: number;
  hostsEntries: number;
  answeredLocally: number;
}

/**
 * Resolves names with c-ares (`dns.promises.Resolver`: A and AAAA with their TTLs), not `dns.lookup` on libuv's
 * four-thread pool. Answers are cached for their TTL clamped to [minTtl, maxTtl]; names without an address for
 * `negativeTtl`; concurrent resolutions of one name share one query pair. IP literals and `localhost` need no
 * query; hosts-file names are answered from a table read asynchronously at start and on `reconfigure` (c-ares
 * does not read the file, and falling back to dns.lookup for them would bring the thread pool back).
 */
export class NameResolver {
  private resolver: Resolver;
  private config: ResolverConfig;
  private hosts: HostsTable = new Map();
  private hostsLoading: Promise<void> | null;
  private hostsGeneration = 0;
  private readonly cache: NameCache;
  private readonly inFlight = new Map<string, Promise<readonly string[]>>();
  private readonly now: () => number;
  private queries = 0;
  private deduplicated = 0;
  private failures = 0;
  private answeredLocally = 0;

  /** `now` is the clock the cache ages by (tests move one by hand). */
  constructor(config: ResolverConfig, now: () => number = Date.now) {
    this.config = config;
    this.now = now;
    this.cache = new NameCache(config.cacheSize);
    this.resolver = makeResolver(config);
    this.hostsLoading = this.loadHosts(config.hostsFile);
  }

  /** Settles once the hosts file has been read (resolve() waits for it too). */
  ready(): Promise<void> {
    return this.hostsLoading ?? Promise.resolve();
  }

  /** A reload: the hosts file is read again; changed settings apply to new queries and empty the cache. */
  reconfigure(config: ResolverConfig): Promise<void> {
    if (JSON.stringify(config) !== JSON.stringify(this.config)) {
      this.config = config;
      this.resolver = makeResolver(config);
      this.cache.resize(config.cacheSize);
      this.cache.clear();
    }
    this.hostsLoading = this.loadHosts(config.hostsFile);
    return this.hostsLoading;
  }

  /**
   * Every address of `name` (IPv4 first), or a rejection with code ENOTFOUND when it has none. The caller
   * checks each address against the destination guard.
   */
  resolve(name: string): Promise<readonly string[]> {
    if (isIP(name) !== 0) {
      this.answeredLocally++;
      return Promise.resolve([name]);
    }
    const key = name.toLowerCase();
    if (key === 'localhost' || key.endsWith('.localhost')) {
      this.answeredLocally++;
      return Promise.resolve(LOCALHOST);
    }
    if (this.hostsLoading !== null) return this.resolveAfterHosts(key);
    return this.resolveKnown(key);
  }

  /**
   * A name's addresses when known now without waiting (hosts file, localhost, a live cache entry); undefined
   * when resolve() has to be asked (a miss, a negative entry, the hosts file still loading).
   */
  cached(name: string): readonly string[] | undefined {
    const key = name.toLowerCase();
    if (key === 'localhost' || key.endsWith('.localhost')) {
      this.answeredLocally++;
      return LOCALHOST;
    }
    if (this.hostsLoading !== null) return undefined;
    const fromHosts = this.hosts.get(key);
    if (fromHosts !== undefined) {
      this.answeredLocally++;
      return fromHosts;
    }
    const entry = this.cache.peek(key, this.now());
    if (entry === undefined || entry.addresses === null) return undefined;
    this.cache.hits++;
    return entry.addresses;
  }

  stats(): ResolverStats {
    const c = this.cache;
    const lookups = c.hits + c.negativeHits + c.misses;
    return {
      size: c.size,
      hits: c.hits,
      negativeHits: c.negativeHits,
      misses: c.misses,
      hitRate: lookups === 0 ? 0 : (c.hits + c.negativeHits) / lookups,
      expired: c.expired,
      evicted: c.evicted,
      queries: this.queries,
      deduplicated: this.deduplicated,
      failures: this.failures,
      hostsEntries: this.hosts.size,
      answeredLocally: this.answeredLocally,
    };
  }

  private async resolveAfterHosts(key: string): Promise<readonly string[]> {
    while (this.hostsLoading !== null) await this.hostsLoading;
    return this.resolveKnown(key);
  }

  private resolveKnown(key: string): Promise<readonly string[]> {
    const fromHosts = this.hosts.get(key);
    if (fromHosts !== undefined) {
      this.answeredLocally++;
      return Promise.resolve(fromHosts);
    }
    const cached = this.cache.get(key, this.now());
    if (cached !== undefined) {
      return cached.addresses === null ? Promise.reject(notFound(key)) : Promise.resolve(cached.addresses);
    }
    const pending = this.inFlight.get(key);
    if (pending !== undefined) {
      this.deduplicated++;
      return pending;
    }
    const query = this.query(key);
    this.inFlight.set(key, query);
    return query;
  }

  private async query(key: string): Promise<readonly string[]> {
    this.queries++;
    const resolver = this.resolver;
    try {
      const [v4, v6] = await Promise.allSettled([
        resolver.resolve4(key, { ttl: true }), resolver.resolve6(key, { ttl: true }),
      ]);
      const records: RecordWithTtl[] = [];
      if (v4.status === 'fulfilled') records.push(...v4.value);
      if (v6.status === 'fulfilled') records.push(...v6.value);
      const { minTtlMs, maxTtlMs, negativeTtlMs } = this.config;
      if (records.length > 0) {
        let ttl = Infinity;
        for (const r of records) if (r.ttl < ttl) ttl = r.ttl;
        const ms = Math.min(maxTtlMs, Math.max(minTtlMs, ttl * 1000));
        const addresses = records.map(addressOf);
        this.cache.set(key, new CachedName(addresses, this.now() + ms));
        return addresses;
      }
      this.failures++;
      const err = firstError(v4, v6);
      if (noAddress(v4) && noAddress(v6)) {
        this.cache.set(key, new CachedName(null, this.now() + negativeTtlMs));
        throw notFound(key);
      }
      throw Object.assign(new Error(`${key} could not be resolved: ${err.message}`), { code: err.code });
    } finally {
      this.inFlight.delete(key);
    }
  }

  private async loadHosts(path: string | null): Promise<void> {
    const generation = ++this.hostsGeneration;
    const table = await readHostsFile(path);
    // A later reload's read wins, whichever finishes first.
    if (generation !== this.hostsGeneration) return;
    this.hosts = table;
    this.hostsLoading = null;
  }
}

function makeResolver(config: ResolverConfig): Resolver {
  const resolver = new Resolver();
  if (config.servers.length > 0) resolver.setServers(config.servers as string[]);
  return resolver;
}

function addressOf(r: RecordWithTtl): string {
  return r.address;
}

function noAddress(result: PromiseSettledResult<unknown>): boolean {
  return result.status === 'rejected' && NO_ADDRESS.has((result.reason as NodeJS.ErrnoException).code ?? '');
}

function firstError(...results: PromiseSettledResult<unknown>[]): NodeJS.ErrnoException {
  for (const r of results) if (r.status === 'rejected') return r.reason as NodeJS.ErrnoException;
  return new Error('no answer');
}

function notFound(name: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${name} has no address`), { code: 'ENOTFOUND' });
}
