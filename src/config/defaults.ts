import { totalmem } from 'node:os';
import { deepFreeze } from './validator.js';

const MiB = 1024 * 1024;

/**
 * Every config default, in one frozen table: what a key is when the document leaves it out. Values are in the
 * config's own units (milliseconds, bytes, bytes per second) and named like the fields of `Config` (types.ts), so
 * the section readers and anything outside `config/` that needs a default read it here. Lists default to empty.
 */
export const DEFAULTS = deepFreeze({
  admin: {
    /** Loopback only: the admin API can reload and read the config. */
    listen: '127.0.0.1:9090',
    /** No token; refused on a non-loopback listener unless `allowNoToken` (see exposure.ts). */
    token: null,
    allowNoToken: false,
    /** Ports a service created through the API with `listen: "<host>:auto"` takes the first free one of. */
    portRange: '20000-29999',
  },
  log: {
    level: 'info',
  },
  store: {
    /** Counters survive restarts out of the box; `sqlite: off` keeps them in memory. */
    sqlite: './data/tidegate.db',
    /** No shared store: counters are this process's alone. */
    redis: null,
    sync: {
      /** How often counters are pushed to the store: rare enough to batch, often enough to lose little. */
      intervalMs: 45_000,
      /** Users per store round trip. */
      batchSize: 500,
      /** Users with unsent deltas at which a flush starts at once instead of waiting for the interval. */
      maxPending: 1000,
    },
  },
  pool: {
    /** 'auto': one thread per core, at most `autoThreadsMax` (the threads share the cores with the event loop). */
    threads: 'auto',
    autoThreadsMax: 4,
    /** 'auto': the pool's documented threshold (src/pool/threshold.ts, 64 KiB), never a file read at run time. */
    jsonOffloadBytes: 'auto',
    /** 'auto' maxQueue is this many queued tasks per thread; beyond it tasks are refused, not queued forever. */
    queuePerThread: 64,
    /** Idle threads end after this long. */
    idleTimeoutMs: 30_000,
  },
  geo: {
    /** The country database shipped with tidegate. */
    database: 'embedded',
    /** Looked-up addresses remembered (an LRU). */
    cacheSize: 10_000,
  },
  /** `resolver:` names the proxy and forward targets resolve (c-ares, not dns.lookup's thread pool). */
  resolver: {
    /** DNS servers ("ip" or "ip:port"); empty: the system's (resolv.conf). */
    servers: [] as string[],
    /** Record TTLs are clamped to [minTtl, maxTtl]. */
    minTtlMs: 1_000,
    maxTtlMs: 300_000,
    /** A name with no address (NXDOMAIN, no records) is remembered this long. */
    negativeTtlMs: 5_000,
    /** Names remembered (an LRU). */
    cacheSize: 10_000,
    /** Read asynchronously at start and reload (c-ares does not read it); null: none. */
    hostsFile: '/etc/hosts' as string | null,
  },
  reload: {
    /** Reload on SIGHUP or the admin API only; watching the file is opt-in. */
    watch: false,
  },
  /** Process-wide gateway limits (the top-level `gateway:` key). */
  gateway: {
    /** Request bytes all gateway services may hold at once: an eighth of the machine's memory, at most 256 MiB. */
    bodyBudgetBytes: Math.min(256 * MiB, Math.floor(totalmem() / 8)),
    /** A body must have arrived this long after its headers (slow-body clients hold budget). */
    bodyTimeoutMs: 30_000,
  },
  /** `report:` (pushed traffic deltas; off unless `report.url` is set). */
  report: {
    intervalMs: 10_000,
    format: 'tidegate',
    token: null,
    /** A receiver that stays down is retried at least this often. */
    maxRetryDelayMs: 60_000,
  },
  /** How long removed services and a shutting-down process let live connections finish. */
  shutdownGraceMs: 30_000,
  /**
   * One process: no IPC, exact quotas, one SQLite writer. `auto` (one worker per core) is opt-in; see
   * docs/workers.md for when it pays.
   */
  workers: 1,
  /** `prices:` entries: currency USD; cache reads and writes priced as input and reasoning as output unless given. */
  price: {
    currency: 'USD',
  },
  /** A model without a price books cost 0 and is counted (`tidegate_unpriced_requests_total`). */
  unpriced: 'count',
  /** A user's `quota:` block (`bytes` has no default: a quota without it is an error). */
  quota: {
    direction: 'total',
    /** Never resets unless a period is set. */
    period: 'none',
    /** Period boundaries in UTC unless the user lives elsewhere. */
    timezone: 'UTC',
    expiresAt: null,
    /** A monthly period starts on the 1st. */
    resetDay: 1,
  },
  /** A user (`users[]`) beyond its id. */
  user: {
    /** A disabled user is refused like one over quota; live connections are closed. */
    enabled: true,
    /** Never expires (independent of `quota.expires`). */
    expiresAt: null,
  },
  /** A `rate:` block (user or service) that names one direction leaves the other unlimited (0). */
  rate: {
    inBytesPerSec: 0,
    outBytesPerSec: 0,
  },
  /** Every service type. */
  service: {
    /** No user: nobody is accounted and no quota applies. */
    user: null,
    /** Live connections before new ones are refused. */
    maxConnections: 10_000,
  },
  /** TCP tuning shared by forward and proxy services. */
  tcp: {
    connectTimeoutMs: 5_000,
    /** A connection with no bytes either way for this long is closed. */
    idleTimeoutMs: 300_000,
    /** After one side ends, the other has this long to finish. */
    halfCloseTimeoutMs: 60_000,
    /** Interactive traffic: don't let Nagle hold small writes. */
    noDelay: true,
    /** TCP keep-alive initial delay (`keepAlive: false` is 0, off). */
    keepAliveMs: 60_000,
  },
  forward: {
    strategy: 'round-robin',
    /** A failed target is skipped this long (doubling per failure up to 30x) before it is tried again. */
    targetBackoffMs: 1_000,
  },
  proxy: {
    /** Everything is dialled directly; `upstream` is only required by routings that use it. */
    routing: 'direct',
    /** A client has this long to finish its SOCKS5 / CONNECT handshake. */
    handshakeTimeoutMs: 10_000,
    /** Nothing refused is reopened. */
    allowDestinations: [],
    denyPrivate: false,
    allowOpen: false,
    /** No client login: the service's `user` (if any) is charged, as before logins existed. */
    auth: 'none',
  },
  /** A proxy service's named `upstreams`. */
  upstream: {
    /** Probed like HAProxy servers: every 5 s, down after 3 failures, up after 2 successes. */
    check: { intervalMs: 5_000, timeoutMs: 2_000, rise: 2, fall: 3 },
    /** A group with no `strategy` tries its members in order. */
    strategy: 'failover',
  },
  /** A gateway service. */
  gatewayService: {
    strategy: 'priority',
    maxBodyBytes: 10 * MiB,
    /** Long prompts take a while to start streaming. */
    firstByteTimeoutMs: 30_000,
    /** Long generations: ten minutes. */
    requestTimeoutMs: 600_000,
    /** An idle client connection is closed after this. */
    keepAliveTimeoutMs: 65_000,
    /** Other channels tried after a failed attempt. */
    retries: 2,
    /** Off: a streamed answer's headers wait for the upstream's. */
    sseKeepAliveMs: 0,
    affinity: {
      header: 'x-session-id',
      bodyField: null,
      maxEntries: 10_000,
      ttlMs: 3_600_000,
    },
    breaker: {
      consecutiveFailures: 5,
      errorRatio: 0.5,
      /** Requests in the window before `errorRatio` counts. */
      minRequests: 20,
      windowMs: 60_000,
      openMs: 30_000,
      halfOpenProbes: 1,
    },
  },
  /** A gateway channel. */
  channel: {
    kind: 'openai',
    /** The vendor's public API, by kind. */
    baseUrl: {
      openai: 'https://api.openai.com/v1', anthropic: 'https://api.anthropic.com',
      gemini: 'https://generativelanguage.googleapis.com',
    },
    credentialsDir: null,
    weight: 1,
    priority: 1,
    /** Empty: every model. */
    models: [],
    /** Upstream connections per channel. */
    maxConnections: 256,
    /** Whether an openai channel takes `/v1/responses` natively (else Responses requests are converted to chat). */
    responses: false,
    /** Off: `/v1/models` lists only declared names unless a channel asks for its upstream's list. */
    modelsRefreshMs: 0,
  },
} as const);
