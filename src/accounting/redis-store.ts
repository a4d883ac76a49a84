import { randomBytes } from 'node:crypto';
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
/**
 * How long Redis keeps an instance's last applied delta sequence after its last delta: a resend after a lost reply
 * must come within it (a dead instance's entry goes away after it).
 */
const SEQ_TTL_S = 7 * 86_400;
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
 * The usual case costs one comparison over a plain HINCRBY. Idempotent: a delta applies only if its sequence is above
 * the last one this instance got applied (KEYS[2]), so a resend after a lost reply is skipped, not counted twice.
 * KEYS[1]: the usage hash. ARGV: in, out, connections, requests, tokens, ttl seconds (0: none), quota bytes (-1:
 * none), direction (total | in | out), floor in, floor out (0: none), then cost, input, cache read, cache write,
 * output and reasoning tokens, then the sequence and its ttl. Returns in, out, over, seeded, applied (0: a resend
 * Redis had) and the period's SPEND_FIELDS (the user's gateway spend from every instance). Totals go in as strings
 * (Lua would format large numbers as floats).
 */
const CHECK_AND_ADD = `
local key = KEYS[1]
local seeded = 0
local applied = 1
local i
local o
if tonumber(ARGV[17]) <= tonumber(redis.call('GET', KEYS[2]) or '0') then
  applied = 0
  i = tonumber(redis.call('HGET', key, 'in') or '0')
  o = tonumber(redis.call('HGET', key, 'out') or '0')
else
  redis.call('SET', KEYS[2], ARGV[17], 'EX', ARGV[18])
  i = redis.call('HINCRBY', key, 'in', ARGV[1])
  if ARGV[9] ~= '0' and i - tonumber(ARGV[1]) < tonumber(ARGV[9]) then
    redis.call('HSET', key, 'in', ARGV[9])
    i = redis.call('HINCRBY', key, 'in', ARGV[1])
    seeded = 1
  end
  o = redis.call('HINCRBY', key, 'out', ARGV[2])
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
end
local limit = tonumber(ARGV[7])
local used = i + o
if ARGV[8] == 'in' then used = i elseif ARGV[8] == 'out' then used = o end
local over = 0
if limit >= 0 and used >= limit then over = 1 end
local spend = redis.call('HMGET', key, ${SPEND_FIELDS.map((f) => `'${f}'`).join(', ')})
return {i, o, over, seeded, applied, unpack(spend)}`;

/**
 * A service's counter delta, with CHECK_AND_ADD's sequence check. KEYS[1]: the service hash, KEYS[2]: the sequence.
 * ARGV: sequence, its ttl, in, out, connections, requests, tokens. Returns 1 if applied, 0 if Redis had it.
 */
const SERVICE_ADD = `
if tonumber(ARGV[1]) <= tonumber(redis.call('GET', KEYS[2]) or '0') then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
local fields = {'in', 'out', 'connections', 'requests', 'tokens'}
for n = 1, 5 do
  if ARGV[n + 2] ~= '0' then redis.call('HINCRBY', KEYS[1], fields[n], ARGV[n + 2]) end
end
return 1`;

type Pipeline = ChainableCommander & {
  checkAndAdd(...args: (string | number)[]): ChainableCommander;
  serviceAdd(...args: (string | number)[]): ChainableCommander;
};

/**
 * One delta sent in the current pipeline, as sent: a reply lost with the connection leaves it unconfirmed, and it is
 * sent again unchanged (same sequence, same floors), so Redis skips it if it had applied it.
 */
interface Sent {
  readonly subject: Subject;
  readonly delta: Delta;
  readonly seq: number;
  readonly floorIn: number;
  readonly floorOut: number;
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
  /** This process's last applied sequence in Redis (a random id per start, so sequences never collide). */
  private readonly seqKey: string;
  private seq = 0;
  /** Deltas whose reply was lost (the connection dropped): resent first, in order, at the next tick. */
  private unconfirmed: Sent[] = [];
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
    this.seqKey = `${prefix}:seq:${randomBytes(8).toString('hex')}`;
    this.connection = connection;
    const store = this;
    this.redis = connection.client;
    this.redis.defineCommand('checkAndAdd', { numberOfKeys: 2, lua: CHECK_AND_ADD });
    this.redis.defineCommand('serviceAdd', { numberOfKeys: 2, lua: SERVICE_ADD });
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
      pendingSubjects: this.pendingSubjects(),
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
    if (this.dirty.size > 0 || this.unconfirmed.length > 0) {
      this.log.warn(
        { pendingSubjects: this.pendingSubjects() },
        'redis: some deltas were not sent before shutdown (they are in the local ledger)',
      );
    }
    this.state = 'closed';
  }

  /** Subjects with deltas not yet confirmed by Redis: dirty ones and those whose reply was lost. */
  private pendingSubjects(): number {
    if (this.unconfirmed.length === 0) return this.dirty.size;
    const subjects = new Set<Subject>(this.dirty);
    for (const s of this.unconfirmed) subjects.add(s.subject);
    return subjects.size;
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
        { redis: this.url, pendingSubjects: this.pendingSubjects() },
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
    if (this.dirty.size === 0 && this.users.length === 0 && this.keys.length === 0 && this.toSeed.size === 0 &&
      this.unconfirmed.length === 0) return;
    const pipeline = this.redis.pipeline();
    // Lost replies first, in their order: below every new sequence, so Redis checks them before it sees a higher one.
    const sent = this.unconfirmed;
    this.unconfirmed = [];
    for (const s of sent) this.issue(pipeline, s);
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
    let floorIn = 0;
    let floorOut = 0;
    // No floor for a key (its shared spend is only ever raised, never re-seeded) nor a service. Only the current
    // period's latest user delta has a known floor; ended periods' deltas carry none.
    if (subject.kind === 'user' && latest && delta.period === (subject as UserAccount).usedPeriod) {
      const user = subject as UserAccount;
      floorIn = Math.max(0, user.usedIn - delta.bytesIn - unsent(user, 'bytesIn'));
      floorOut = Math.max(0, user.usedOut - delta.bytesOut - unsent(user, 'bytesOut'));
    }
    const s: Sent = { subject, delta, seq: ++this.seq, floorIn, floorOut };
    sent.push(s);
    this.issue(pipeline, s);
  }

  /** Queues a delta's one command: the check-and-add script for users and keys, SERVICE_ADD for services. */
  private issue(pipeline: ChainableCommander, s: Sent): void {
    const subject = s.subject;
    if (subject.kind === 'key' || subject.kind === 'user') {
      this.checkAndAdd(pipeline, subject as SpendSubject, s);
      return;
    }
    const d = s.delta;
    (pipeline as Pipeline).serviceAdd(
      this.serviceKey(subject.id), this.seqKey, s.seq, SEQ_TTL_S,
      d.bytesIn, d.bytesOut, d.connections, d.requests, d.tokens,
    );
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

  private checkAndAdd(pipeline: ChainableCommander, subject: SpendSubject, s: Sent): void {
    const delta = s.delta;
    const quota = subject.kind === 'key' ? null : subject.quota;
    const ttl = delta.period.startsWith('d:') ? 3 * 86_400 : delta.period.startsWith('m:') ? 62 * 86_400 : 0;
    (pipeline as Pipeline).checkAndAdd(
      this.spendKey(subject, delta.period), this.seqKey,
      delta.bytesIn, delta.bytesOut, delta.connections, delta.requests, delta.tokens,
      ttl, quota === null || quota.bytes === Infinity ? -1 : quota.bytes, quota === null ? 'total' : quota.direction,
      s.floorIn, s.floorOut,
      delta.costMicros, delta.inputTokens, delta.cacheReadTokens, delta.cacheWriteTokens, delta.outputTokens,
      delta.reasoningTokens, s.seq, SEQ_TTL_S,
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
    takeSpend(user, totals, 5);
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
      // Redis may have applied any of them: resent as they were, so it skips those it has.
      for (const s of sent) this.unconfirmed.push(s);
      return;
    }
    // Results come in command order, one per delta, then the polls.
    let seeded = 0;
    let skipped = 0;
    for (let at = 0; at < sent.length; at++) {
      const s = sent[at]!;
      const result = results[at]!;
      const err = result[0];
      if (err !== null) {
        this.lastError = err.message;
        // A reply lost with the connection: Redis may have run it. An error reply: it did not take the delta.
        if (err.name !== 'ReplyError') this.unconfirmed.push(s);
        else if (s.subject.kind !== 'service') this.restore(s);
        // A service delta's script may have failed halfway (wrong type): resending could double what landed.
        else this.log.warn({ service: s.subject.id }, 'redis: a service counter update failed');
        continue;
      }
      if (!applied(s, result[1])) skipped++;
      if (s.subject.kind === 'user') {
        seeded += this.applyTotals(s.subject as UserAccount, s.delta.period, result);
      } else if (s.subject.kind === 'key' && s.delta.period === (s.subject as KeyAccount).usedPeriod) {
        takeSpend(s.subject as KeyAccount, result[1] as (number | string | null)[], 5);
      }
    }
    this.seeded(seeded);
    if (skipped > 0) {
      this.log.info({ redis: this.url, deltas: skipped }, 'redis: resent deltas it had already applied were skipped');
    }
    for (let i = 0; i < polled.length; i++) this.applyPoll(polled[i]!, periods[i]!, results[sent.length + i]!);
  }

  /** A delta Redis did not take goes back in front of what came since. */
  private restore(s: Sent): void {
    const subject = s.subject;
    if (subject.redisPending.period === s.delta.period) subject.redisPending.addFrom(s.delta);
    else subject.redisCarried.push(s.delta);
    this.markDirty(subject);
  }
}

/** Whether Redis applied the delta (not: a resend after a lost reply that it had applied before). */
function applied(s: Sent, reply: unknown): boolean {
  const flag = s.subject.kind === 'service' ? reply : (reply as unknown[])[4];
  return Number(flag) === 1;
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
