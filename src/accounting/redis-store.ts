import type { ChainableCommander, Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { Delta } from './delta.js';
import { ALL_TIME } from './period.js';
import type { RedisConnection } from './redis-connection.js';
import type { Subject, UserAccount } from './subject.js';
import type { KeyAccount } from './key-account.js';

/** A subject with gateway budgets: its period's spend is raised to what every instance booked. */
type SpendSubject = UserAccount | KeyAccount;

export type RedisState = 'connecting' | 'connected' | 'down' | 'closed';

export interface RedisStatus {
  readonly state: RedisState;
  readonly url: string;
  /** Subjects whose deltas wait for Redis (kept in memory while it is down). */
  readonly pendingSubjects: number;
  readonly lastError: string | null;
  readonly downSince: string | null;
  readonly outages: number;
  /**
   * Usage totals found missing or lower than this instance knew (Redis restarted empty, FLUSHALL, eviction) and
   * re-seeded.
   */
  readonly reseeds: number;
}

/** How often counter deltas go to Redis in one pipeline. */
export const REDIS_FLUSH_MS = 100;
/** Users whose shared usage is re-read per tick (round robin), so quotas used by other instances are seen. */
const POLL_PER_TICK = 256;
/** Users re-read (and re-seeded) per tick after a reconnect, until every user was once. */
const RECONCILE_PER_TICK = 2_048;

/** The gateway spend of a user's period in its usage hash: requests, tokens, cost and the five token classes. */
const SPEND_FIELDS = ['requests', 'tokens', 'cost', 'ti', 'tcr', 'tcw', 'to', 'tr'] as const;
/** The Counters field each of SPEND_FIELDS holds. */
const SPEND_COUNTERS = [
  'requests', 'tokens', 'costMicros', 'inputTokens', 'cacheReadTokens', 'cacheWriteTokens', 'outputTokens',
  'reasoningTokens',
] as const;
type SpendCounter = (typeof SPEND_COUNTERS)[number];

/**
 * Adds a usage delta and returns the new totals, whether the quota is used up and whether a floor re-seeded a total,
 * atomically, so every instance sees the same order of additions. The floor is what this instance knows the total was
 * before the delta (its ledger, its own counts, the shared totals it last read): a Redis that lost the key (restart
 * without persistence, FLUSHALL, eviction) gets it back, and a higher total another instance wrote is never lowered.
 * The usual case costs one comparison over a plain HINCRBY. KEYS[1]: the usage hash. ARGV: in, out, connections,
 * requests, tokens, ttl seconds (0: none), quota bytes (-1: none), direction (total | in | out), floor in, floor out
 * (0: none), then cost, input, cache read, cache write, output and reasoning tokens. Returns in, out, over,
 * seeded and the period's SPEND_FIELDS (the user's gateway spend from every instance). Totals go in as strings (Lua
 * would format large numbers as floats).
 */
const CHECK_AND_ADD = `
local key = KEYS[1]
local seeded = 0
local i = redis.call('HINCRBY', key, 'in', ARGV[1])
if ARGV[9] ~= '0' and i - tonumber(ARGV[1]) < tonumber(ARGV[9]) then
  redis.call('HSET', key, 'in', ARGV[9])
  i = redis.call('HINCRBY', key, 'in', ARGV[1])
  seeded = 1
end
local o = redis.call('HINCRBY', key, 'out', ARGV[2])
if ARGV[10] ~= '0' and o - tonumber(ARGV[2]) < tonumber(ARGV[10]) then
  redis.call('HSET', key, 'out', ARGV[10])
  o = redis.call('HINCRBY', key, 'out', ARGV[2])
  seeded = 1
end
if ARGV[3] ~= '0' then redis.call('HINCRBY', key, 'connections', ARGV[3]) end
if ARGV[4] ~= '0' then redis.call('HINCRBY', key, 'requests', ARGV[4]) end
if ARGV[5] ~= '0' then redis.call('HINCRBY', key, 'tokens', ARGV[5]) end
if ARGV[11] ~= '0' then redis.call('HINCRBY', key, 'cost', ARGV[11]) end
if ARGV[12] ~= '0' then redis.call('HINCRBY', key, 'ti', ARGV[12]) end
if ARGV[13] ~= '0' then redis.call('HINCRBY', key, 'tcr', ARGV[13]) end
if ARGV[14] ~= '0' then redis.call('HINCRBY', key, 'tcw', ARGV[14]) end
if ARGV[15] ~= '0' then redis.call('HINCRBY', key, 'to', ARGV[15]) end
if ARGV[16] ~= '0' then redis.call('HINCRBY', key, 'tr', ARGV[16]) end
local ttl = tonumber(ARGV[6])
if ttl > 0 then redis.call('EXPIRE', key, ttl) end
local limit = tonumber(ARGV[7])
local used = i + o
if ARGV[8] == 'in' then used = i elseif ARGV[8] == 'out' then used = o end
local over = 0
if limit >= 0 and used >= limit then over = 1 end
local spend = redis.call('HMGET', key, ${SPEND_FIELDS.map((f) => `'${f}'`).join(', ')})
return {i, o, over, seeded, unpack(spend)}`;

type Pipeline = ChainableCommander & { checkAndAdd(...args: (string | number)[]): ChainableCommander };

/** One delta sent in the current pipeline, to restore if it fails. */
interface Sent {
  readonly subject: Subject;
  readonly delta: Delta;
}

/**
 * Counters and quota usage shared by several tidegate instances through Redis. Deltas are pipelined about every
 * 100 ms (HINCRBY for services, the check-and-add script for users); while Redis is down they stay merged in memory
 * and are sent when it returns, and quotas are checked against the last shared totals plus local deltas.
 *
 * Redis is a cache of the ledger, never its replacement: within a period usage only grows, so a user's usage is the
 * maximum of what Redis says and what this instance knows (ledger + unsent deltas at load, then every count and
 * every shared total read). Every delta carries that knowledge as a floor that re-seeds a lost key, and a poll that
 * finds Redis lower queues a zero delta with its floor for the next tick (on a reconnect every user is polled).
 */
export class RedisCounterStore {
  readonly url: string;
  private readonly redis: Redis;
  private readonly connection: RedisConnection;
  private readonly log: Logger;
  private readonly prefix: string;
  private readonly dirty = new Set<Subject>();
  /** Users a poll found lower in Redis than this instance knows: re-seeded at the next tick. */
  private readonly toSeed = new Set<UserAccount>();
  private users: UserAccount[] = [];
  private pollCursor = 0;
  /** Client keys with budgets: their period's spend is shared like a user's (`<prefix>:kb:<id>:<period>`). */
  private keys: KeyAccount[] = [];
  private keyCursor = 0;
  private state: RedisState = 'connecting';
  private lastError: string | null = null;
  private downSince: number | null = null;
  private outages = 0;
  private reseeds = 0;
  /** Users still to poll after a reconnect (RECONCILE_PER_TICK per tick instead of POLL_PER_TICK). */
  private reconcileLeft = 0;
  private inFlight: Promise<void> | null = null;
  private readonly timer: NodeJS.Timeout;

  /**
   * `connection`: the process's Redis connection (commands fail at once while it is down: the deltas are ours to
   * keep, not ioredis's queue); its owner closes it after this store's close().
   */
  constructor(connection: RedisConnection, log: Logger, prefix = 'tidegate') {
    this.url = connection.url;
    this.log = log;
    this.prefix = prefix;
    this.connection = connection;
    const store = this;
    this.redis = connection.client;
    this.redis.defineCommand('checkAndAdd', { numberOfKeys: 1, lua: CHECK_AND_ADD });
    this.redis.on('ready', function redisReady() {
      store.onReady();
    });
    this.redis.on('close', function redisClosed() {
      store.onDown();
    });
    this.redis.on('error', function redisError(err: Error) {
      store.lastError = err.message;
    });
    this.timer = setInterval(function redisTick() {
      store.tick();
    }, REDIS_FLUSH_MS);
    this.timer.unref();
  }

  /** Connects (bounded wait); when Redis is down, tidegate starts anyway and counts in memory. */
  async connect(): Promise<void> {
    const err = await this.connection.connect();
    if (err !== null) {
      // The 'error' event usually said why (ECONNREFUSED); keep that over ioredis's generic rejection.
      this.lastError ??= err.message;
      this.onDown();
    }
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  /** The users whose shared usage is polled (those with a quota). */
  setUsers(users: UserAccount[]): void {
    this.users = users;
    if (this.pollCursor >= users.length) this.pollCursor = 0;
  }

  /** The key accounts whose shared spend is polled. */
  setKeys(keys: KeyAccount[]): void {
    this.keys = keys;
    if (this.keyCursor >= keys.length) this.keyCursor = 0;
  }

  markDirty(subject: Subject): void {
    if (subject.redisDirty) return;
    subject.redisDirty = true;
    this.dirty.add(subject);
  }

  /**
   * Reads every user's shared usage for its current period (at start, before services accept), re-seeding Redis
   * where it holds less than the ledger.
   */
  async loadUsers(users: readonly UserAccount[]): Promise<void> {
    await this.load(users);
    // Seeded before services accept, so a node that starts next reads the ledger's value.
    if (this.toSeed.size > 0) await this.sync();
  }

  /** Reads new key accounts' shared spend (at start and reload, before services admit with them). */
  loadKeys(keys: readonly KeyAccount[]): Promise<void> {
    return this.load(keys);
  }

  /** One pipeline that reads every subject's shared totals of its current period. */
  private async load(subjects: readonly SpendSubject[]): Promise<void> {
    if (!this.connected || subjects.length === 0) return;
    const pipeline = this.redis.pipeline();
    const periods = subjects.map((subject) => this.poll(pipeline, subject));
    const results = await pipeline.exec().catch((err: Error) => {
      this.lastError = err.message;
      return null;
    });
    if (results === null) return;
    subjects.forEach((subject, i) => this.applyPoll(subject, periods[i]!, results[i]!));
  }

  status(): RedisStatus {
    return {
      state: this.state,
      url: this.url,
      pendingSubjects: this.dirty.size,
      lastError: this.lastError,
      downSince: this.downSince === null ? null : new Date(this.downSince).toISOString(),
      outages: this.outages,
      reseeds: this.reseeds,
    };
  }

  /** Sends what is pending now (used by flushes and tests); resolves once Redis answered or failed. */
  async sync(): Promise<void> {
    if (this.inFlight !== null) await this.inFlight;
    this.tick();
    if (this.inFlight !== null) await this.inFlight;
  }

  /** Sends the last deltas (the connection's owner disconnects after); deltas Redis never got are logged. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    if (this.connected) await this.sync();
    if (this.dirty.size > 0) {
      this.log.warn(
        { pendingSubjects: this.dirty.size },
        'redis: some deltas were not sent before shutdown (they are in the local ledger)',
      );
    }
    this.state = 'closed';
  }

  private userKey(id: string, period: string): string {
    return `${this.prefix}:u:${id}:${period}`;
  }

  private spendKey(subject: SpendSubject, period: string): string {
    return subject.kind === 'key' ? `${this.prefix}:kb:${subject.id}:${period}` : this.userKey(subject.id, period);
  }

  private serviceKey(name: string): string {
    return `${this.prefix}:s:${name}:${ALL_TIME}`;
  }

  private onReady(): void {
    if (this.state === 'down') {
      this.log.info(
        { redis: this.url, pendingSubjects: this.dirty.size },
        'redis is back: reconciling deltas counted while it was down',
      );
      // It may have come back empty: every user's totals are re-read, and re-seeded where lower than we know.
      this.reconcileLeft = this.users.length;
    }
    this.state = 'connected';
    this.downSince = null;
  }

  private onDown(): void {
    if (this.state === 'closed' || this.state === 'down') return;
    if (this.state === 'connected') this.outages++;
    this.state = 'down';
    this.downSince = Date.now();
    this.log.warn(
      { redis: this.url, err: this.lastError },
      'redis is down: counting in memory, quotas checked against the last shared totals',
    );
  }

  /** One pipeline: every dirty subject's deltas, then a poll of some users' shared usage. */
  private tick(): void {
    if (this.inFlight !== null || !this.connected) return;
    if (this.dirty.size === 0 && this.users.length === 0 && this.keys.length === 0 && this.toSeed.size === 0) return;
    const pipeline = this.redis.pipeline();
    const sent: Sent[] = [];
    for (const subject of this.dirty) {
      for (const delta of subject.redisCarried) this.send(pipeline, subject, delta, false, sent);
      subject.redisCarried = [];
      const delta = subject.redisPending;
      subject.redisPending = new Delta(delta.period);
      if (!delta.isZero()) this.send(pipeline, subject, delta, true, sent);
      subject.redisDirty = false;
    }
    this.dirty.clear();
    // A zero delta with its floor (after the user's own delta, if it had one: then the floor is a no-op).
    for (const user of this.toSeed) this.send(pipeline, user, new Delta(user.usedPeriod), true, sent);
    this.toSeed.clear();
    const polled: SpendSubject[] = [];
    const periods: string[] = [];
    const count = Math.min(this.reconcileLeft > 0 ? RECONCILE_PER_TICK : POLL_PER_TICK, this.users.length);
    this.reconcileLeft = Math.max(0, this.reconcileLeft - count);
    for (let i = 0; i < count; i++) {
      const user = this.users[this.pollCursor]!;
      this.pollCursor = (this.pollCursor + 1) % this.users.length;
      polled.push(user);
      periods.push(this.poll(pipeline, user));
    }
    const keyCount = Math.min(POLL_PER_TICK, this.keys.length);
    for (let i = 0; i < keyCount; i++) {
      const key = this.keys[this.keyCursor]!;
      this.keyCursor = (this.keyCursor + 1) % this.keys.length;
      polled.push(key);
      periods.push(this.poll(pipeline, key));
    }
    if (sent.length === 0 && polled.length === 0) return;
    this.inFlight = this.exec(pipeline, sent, polled, periods).finally(() => {
      this.inFlight = null;
    });
  }

  /** `latest`: the subject's newest delta, so usage before it is its usage minus the delta and what came since. */
  private send(pipeline: ChainableCommander, subject: Subject, delta: Delta, latest: boolean, sent: Sent[]): void {
    sent.push({ subject, delta });
    if (subject.kind === 'key') {
      // No byte quota and no floor: a key's shared spend is only ever raised (applyTotals), never re-seeded.
      this.checkAndAdd(pipeline, subject as KeyAccount, delta, 0, 0);
      return;
    }
    if (subject.kind === 'user') {
      const user = subject as UserAccount;
      // Only the current period's latest delta has a known floor; ended periods' deltas carry none.
      const floored = latest && delta.period === user.usedPeriod;
      const floorIn = floored ? user.usedIn - delta.bytesIn - unsent(user, 'bytesIn') : 0;
      const floorOut = floored ? user.usedOut - delta.bytesOut - unsent(user, 'bytesOut') : 0;
      this.checkAndAdd(pipeline, user, delta, floorIn, floorOut);
      return;
    }
    const key = this.serviceKey(subject.id);
    if (delta.bytesIn !== 0) pipeline.hincrby(key, 'in', delta.bytesIn);
    if (delta.bytesOut !== 0) pipeline.hincrby(key, 'out', delta.bytesOut);
    if (delta.connections !== 0) pipeline.hincrby(key, 'connections', delta.connections);
    if (delta.requests !== 0) pipeline.hincrby(key, 'requests', delta.requests);
    if (delta.tokens !== 0) pipeline.hincrby(key, 'tokens', delta.tokens);
  }

  /** Queues a read of the subject's current-period totals; returns that period (it may end before the answer). */
  private poll(pipeline: ChainableCommander, subject: SpendSubject): string {
    pipeline.hmget(this.spendKey(subject, subject.usedPeriod), 'in', 'out', ...SPEND_FIELDS);
    return subject.usedPeriod;
  }

  /** Takes polled totals as the user's usage unless this instance knows more; if it does, queues a re-seed. */
  private applyPoll(subject: SpendSubject, period: string, result: [Error | null, unknown]): void {
    if (result[0] !== null || period !== subject.usedPeriod) return;
    const raw = result[1] as (string | null)[];
    takeSpend(subject, raw, 2);
    if (subject.kind === 'key') return;
    const user = subject as UserAccount;
    const [rawIn, rawOut] = raw;
    const sharedIn = Number(rawIn ?? 0) + unsent(user, 'bytesIn');
    const sharedOut = Number(rawOut ?? 0) + unsent(user, 'bytesOut');
    if (sharedIn < user.usedIn || sharedOut < user.usedOut) this.toSeed.add(user);
    user.usedIn = Math.max(user.usedIn, sharedIn);
    user.usedOut = Math.max(user.usedOut, sharedOut);
  }

  private checkAndAdd(
    pipeline: ChainableCommander, subject: SpendSubject, delta: Delta, floorIn: number, floorOut: number,
  ): void {
    const quota = subject.kind === 'key' ? null : subject.quota;
    const ttl = delta.period.startsWith('d:') ? 3 * 86_400 : delta.period.startsWith('m:') ? 62 * 86_400 : 0;
    (pipeline as Pipeline).checkAndAdd(
      this.spendKey(subject, delta.period),
      delta.bytesIn, delta.bytesOut, delta.connections, delta.requests, delta.tokens,
      ttl, quota === null || quota.bytes === Infinity ? -1 : quota.bytes, quota === null ? 'total' : quota.direction,
      Math.max(0, floorIn), Math.max(0, floorOut),
      delta.costMicros, delta.inputTokens, delta.cacheReadTokens, delta.cacheWriteTokens, delta.outputTokens,
      delta.reasoningTokens,
    );
  }

  /** Takes a delta's new totals as the user's usage unless this instance knows more; returns 1 if it re-seeded them. */
  private applyTotals(user: UserAccount, period: string, result: [Error | null, unknown]): number {
    const [err, value] = result;
    if (err !== null) {
      this.lastError = err.message;
      return 0;
    }
    if (period !== user.usedPeriod) return 0;
    const totals = value as (number | string | null)[];
    user.usedIn = Math.max(user.usedIn, Number(totals[0]) + unsent(user, 'bytesIn'));
    user.usedOut = Math.max(user.usedOut, Number(totals[1]) + unsent(user, 'bytesOut'));
    takeSpend(user, totals, 4);
    return Number(totals[3]);
  }

  private seeded(count: number): void {
    if (count === 0) return;
    this.reseeds += count;
    this.log.warn(
      { redis: this.url, users: count },
      'redis held less usage than the ledger knows (restart without persistence, FLUSHALL or eviction): re-seeded',
    );
  }

  private async exec(
    pipeline: ChainableCommander, sent: Sent[], polled: SpendSubject[], periods: string[],
  ): Promise<void> {
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipeline.exec();
    } catch (err) {
      this.lastError = (err as Error).message;
      results = null;
    }
    if (results === null) {
      for (const s of sent) this.restore(s);
      return;
    }
    // Results come in command order: each user delta is one command, a service delta one per non-zero field.
    let at = 0;
    let seeded = 0;
    for (const s of sent) {
      if (s.subject.kind === 'key') {
        const result = results[at++]!;
        if (result[0] !== null) {
          this.lastError = result[0].message;
          this.restore(s);
        } else if (s.delta.period === (s.subject as KeyAccount).usedPeriod) {
          takeSpend(s.subject as KeyAccount, result[1] as (number | string | null)[], 4);
        }
        continue;
      }
      if (s.subject.kind === 'user') {
        const result = results[at++]!;
        if (result[0] !== null) {
          this.lastError = result[0].message;
          this.restore(s);
        } else {
          seeded += this.applyTotals(s.subject as UserAccount, s.delta.period, result);
        }
        continue;
      }
      const d = s.delta;
      const fields = (d.bytesIn !== 0 ? 1 : 0) + (d.bytesOut !== 0 ? 1 : 0) + (d.connections !== 0 ? 1 : 0) +
        (d.requests !== 0 ? 1 : 0) + (d.tokens !== 0 ? 1 : 0);
      let failed = false;
      for (let f = 0; f < fields; f++) if (results[at++]![0]) failed = true;
      // HINCRBY per field: a partial failure is rare (wrong type); resending would double the fields that landed.
      if (failed) this.log.warn({ service: s.subject.id }, 'redis: a service counter update failed');
    }
    this.seeded(seeded);
    for (let i = 0; i < polled.length; i++) this.applyPoll(polled[i]!, periods[i]!, results[at++]!);
  }

  /** A delta Redis did not take goes back in front of what came since. */
  private restore(s: Sent): void {
    const subject = s.subject;
    if (subject.redisPending.period === s.delta.period) subject.redisPending.addFrom(s.delta);
    else subject.redisCarried.push(s.delta);
    this.markDirty(subject);
  }
}

/** Deltas of the current period this instance counted but Redis has not confirmed. */
function unsent(user: SpendSubject, field: 'bytesIn' | 'bytesOut' | SpendCounter): number {
  return user.redisPending.period === user.usedPeriod ? user.redisPending[field] : 0;
}

/**
 * The user's gateway spend in its period as every instance booked it (`totals` from `at`, in SPEND_FIELDS order),
 * plus what this instance has not sent yet, unless this instance knows more: budgets see the other instances' use.
 */
function takeSpend(user: SpendSubject, totals: readonly (number | string | null)[], at: number): void {
  const spent = user.spent;
  for (let f = 0; f < SPEND_COUNTERS.length; f++) {
    const field = SPEND_COUNTERS[f]!;
    const shared = Number(totals[at + f] ?? 0) + unsent(user, field);
    if (shared > spent[field]) spent[field] = shared;
  }
}
