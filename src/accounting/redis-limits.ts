import type { Redis } from 'ioredis';
import type { SharedLimitOwner } from '../contracts/accounting.js';
import type { Logger } from '../log.js';
import type { LimitStore, LimitStoreStatus } from './limit-store.js';
import type { RedisConnection } from './redis-connection.js';

/** The minute of the sliding windows (the gateway's `limits/window.ts` uses the same). */
const WINDOW_MS = 60_000;
/** Settlements (booked − reserved tokens) are summed per subject and sent together this often. */
const SETTLE_MS = 50;
/** Cached subject keys (users and keys of the config; a bound against a config of millions). */
const MAX_KEYS = 100_000;
/** An admission batch unanswered this long is let through on local limits (checked on the settle tick). */
const ADMIT_TIMEOUT_MS = 1_000;

/**
 * Sliding minute windows in one hash per subject (s: window start, rc / rp: requests this / last window, tc / tp:
 * tokens). Admissions gathered in one event-loop turn go in one call; each is rolled, checked and taken atomically on
 * every subject it names, in order. KEYS: the subjects' hashes, admission after admission. ARGV: now (ms), window
 * (ms), the number of admissions, then per admission: its number of subjects, reserved tokens, rpm and tpm per
 * subject (0: none). Returns per admission: refused (0 or the subject's 1-based index), limit (1 rpm, 2 tpm) and
 * per subject s, rc, rp, tc, tp after the call.
 */
const ADMIT = `
local now = tonumber(ARGV[1])
local w = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local start = now - (now % w)
local frac = 1 - (now - start) / w
local out = {}
local a = 4
local k = 1
for j = 1, count do
  local n = tonumber(ARGV[a])
  local reserve = tonumber(ARGV[a + 1])
  local head = #out + 1
  out[head] = 0
  out[head + 1] = 0
  local refused = 0
  local limit = 0
  for i = 0, n - 1 do
    local h = redis.call('HMGET', KEYS[k + i], 's', 'rc', 'rp', 'tc', 'tp')
    local s = tonumber(h[1]) or start
    local rc = tonumber(h[2]) or 0
    local rp = tonumber(h[3]) or 0
    local tc = tonumber(h[4]) or 0
    local tp = tonumber(h[5]) or 0
    if s ~= start then
      if start - s == w then rp = rc tp = tc else rp = 0 tp = 0 end
      rc = 0 tc = 0 s = start
    end
    local rpm = tonumber(ARGV[a + 2 + 2 * i])
    local tpm = tonumber(ARGV[a + 3 + 2 * i])
    if refused == 0 then
      if rpm > 0 and rp * frac + rc + 1 > rpm then refused = i + 1 limit = 1
      elseif tpm > 0 and tp * frac + tc >= tpm then refused = i + 1 limit = 2 end
    end
    out[#out + 1] = s out[#out + 1] = rc out[#out + 1] = rp out[#out + 1] = tc out[#out + 1] = tp
  end
  if refused == 0 then
    for i = 0, n - 1 do
      local b = head + 2 + i * 5
      out[b + 1] = out[b + 1] + 1
      out[b + 3] = out[b + 3] + reserve
      redis.call('HSET', KEYS[k + i], 's', out[b], 'rc', out[b + 1], 'rp', out[b + 2], 'tc', out[b + 3],
        'tp', out[b + 4])
      redis.call('PEXPIRE', KEYS[k + i], 2 * w)
    end
  end
  out[head] = refused
  out[head + 1] = limit
  a = a + 2 + 2 * n
  k = k + n
end
return out`;

/**
 * Settlements gathered since the last flush: adds ARGV[2 + i] tokens to subject i's current window (rolled to ARGV[1]
 * first); the window is WINDOW_MS (a constant in the script's text).
 */
const SETTLE = `
local now = tonumber(ARGV[1])
local w = ${WINDOW_MS}
local start = now - (now % w)
for i = 1, #KEYS do
  local h = redis.call('HMGET', KEYS[i], 's', 'rc', 'tc')
  local s = tonumber(h[1])
  if s ~= nil then
    if s ~= start then
      local keep = start - s == w
      redis.call('HSET', KEYS[i], 's', start, 'rc', 0, 'tc', 0, 'rp', keep and h[2] or 0, 'tp', keep and h[3] or 0)
    end
    redis.call('HINCRBY', KEYS[i], 'tc', ARGV[1 + i])
    redis.call('PEXPIRE', KEYS[i], 2 * w)
  end
end
return 0`;

interface LimitCommands {
  tgAdmit(numKeys: number, ...args: (string | number)[]): Promise<number[]>;
  tgSettle(numKeys: number, ...args: (string | number)[]): Promise<number>;
}

/**
 * The gateway's rate limits in Redis, on the process's one connection (shared with the counter store, whose
 * pipeline every 100 ms is small beside an admission batch). Commands fail at once while Redis is down (no offline
 * queue), and a batch unanswered for ADMIT_TIMEOUT_MS is given up: the gateway then limits in each process, from
 * the shared figures it last saw, and `/status` says so (`limits.state`).
 */
export class RedisLimitStore implements LimitStore {
  private readonly redis: Redis & LimitCommands;
  private readonly prefix: string;
  private readonly log: Logger;
  up = false;
  /** `concurrent` and budgets stay in each instance (a crashed instance could not give its share back). */
  readonly budgets = false;
  fallbacks = 0;
  lastError: string | null = null;
  /** Admissions of this event-loop turn, sent together at setImmediate. */
  private batch: AdmitBatch | null = null;
  /** Token deltas per subject key not yet sent (one script call per SETTLE_MS for all of them). */
  private pending = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private readonly connection: RedisConnection;
  /** Batches sent and not answered yet, oldest first (replies come in order on one connection). */
  private readonly inFlight: AdmitBatch[] = [];
  /**
   * Subject id → its Redis key, made once: a key concatenated per request would be flattened and hashed again by
   * the settlement map and the command writer. Subjects come from the config (bounded; cleared if it ever grows).
   */
  private readonly keys = new Map<string, string>();

  /** `connection`: the process's Redis connection; its owner closes it after this store's close(). */
  constructor(connection: RedisConnection, log: Logger, prefix = 'tidegate') {
    this.prefix = `${prefix}:limits:`;
    this.log = log;
    this.connection = connection;
    const store = this;
    const redis = connection.client;
    this.up = redis.status === 'ready';
    redis.defineCommand('tgAdmit', { lua: ADMIT });
    redis.defineCommand('tgSettle', { lua: SETTLE });
    this.redis = redis as Redis & LimitCommands;
    redis.on('ready', function limitsReady() {
      if (!store.up) store.log.info({ event: 'limits.shared' }, 'gateway limits shared through Redis');
      store.up = true;
    });
    redis.on('close', function limitsDown() {
      if (store.up) store.log.warn({ event: 'limits.local' }, 'Redis is down: gateway limits count in this process');
      store.up = false;
    });
    redis.on('error', function limitsError(err: Error) {
      store.lastError = err.message;
    });
    this.timer = setInterval(function limitsSettle() {
      store.flush();
      store.expire();
    }, SETTLE_MS);
    this.timer.unref();
  }

  async connect(): Promise<void> {
    const err = await this.connection.connect();
    if (err !== null) this.lastError ??= err.message;
  }

  admit(owner: SharedLimitOwner, subjects: readonly string[], limits: readonly number[], reserved: number): void {
    let batch = this.batch;
    if (batch === null) {
      batch = this.batch = new AdmitBatch();
      setImmediate(sendBatch, this);
    }
    batch.owners.push(owner);
    batch.subjects.push(subjects.length);
    for (let i = 0; i < subjects.length; i++) batch.keys.push(this.keyOf(subjects[i]!));
    batch.args.push(subjects.length, reserved);
    // rpm and tpm of each subject (its `concurrent`, the third, counts per instance).
    for (let i = 0; i < limits.length; i += 3) batch.args.push(limits[i]!, limits[i + 1]!);
  }

  /** One script call for the admissions of this turn; each owner hears its part of the reply, in order. */
  send(): void {
    const batch = this.batch!;
    this.batch = null;
    const store = this;
    const now = Date.now();
    batch.sentAt = now;
    this.inFlight.push(batch);
    this.redis.tgAdmit(batch.keys.length, ...batch.keys, now, WINDOW_MS, batch.owners.length, ...batch.args)
      .then(function admitted(r: number[]) {
        store.answered(batch);
        if (!batch.done) batch.replied(r);
      }, function admitFailed(err: Error) {
        store.answered(batch);
        if (batch.done) return;
        store.lastError = err.message;
        store.giveUp(batch);
      });
  }

  /** Replies come in send order: the answered batch is the oldest one in flight. */
  private answered(batch: AdmitBatch): void {
    const at = this.inFlight.indexOf(batch);
    if (at >= 0) this.inFlight.splice(0, at + 1);
  }

  private giveUp(batch: AdmitBatch): void {
    this.fallbacks += batch.owners.length;
    batch.failed();
  }

  /** A Redis that takes but does not answer must not hold requests: they fall back to local limits. */
  private expire(): void {
    const inFlight = this.inFlight;
    const before = Date.now() - ADMIT_TIMEOUT_MS;
    while (inFlight.length > 0 && inFlight[0]!.sentAt <= before) {
      const batch = inFlight.shift()!;
      if (batch.done) continue;
      this.lastError = 'Command timed out';
      this.giveUp(batch);
    }
  }

  settle(subjects: readonly string[], delta: number): void {
    if (delta === 0) return;
    const pending = this.pending;
    for (let i = 0; i < subjects.length; i++) {
      const key = this.keyOf(subjects[i]!);
      pending.set(key, (pending.get(key) ?? 0) + delta);
    }
  }

  private keyOf(subject: string): string {
    let key = this.keys.get(subject);
    if (key === undefined) {
      if (this.keys.size >= MAX_KEYS) this.keys.clear();
      key = this.prefix + subject;
      this.keys.set(subject, key);
    }
    return key;
  }

  private readonly settleFailed = (err: Error): void => {
    this.lastError = err.message;
  };

  /** Sends the summed settlements; lost while Redis is down (the windows slide out within two minutes anyway). */
  private flush(): void {
    const pending = this.pending;
    if (pending.size === 0) return;
    this.pending = new Map();
    if (!this.up) return;
    const keys = [...pending.keys()];
    const args: (string | number)[] = [...keys, Date.now()];
    for (const key of keys) args.push(Math.round(pending.get(key)!));
    this.redis.tgSettle(keys.length, ...args).catch(this.settleFailed);
  }

  status(): LimitStoreStatus {
    return { store: 'redis', state: this.up ? 'shared' : 'local', fallbacks: this.fallbacks,
      lastError: this.lastError };
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.flush();
    this.up = false;
    for (let i = 0; i < this.inFlight.length; i++) if (!this.inFlight[i]!.done) this.giveUp(this.inFlight[i]!);
    this.inFlight.length = 0;
    await Promise.resolve();
  }
}

function sendBatch(store: RedisLimitStore): void {
  store.send();
}

/** Admissions sent in one script call: their owners and arguments, in order. */
class AdmitBatch {
  readonly owners: SharedLimitOwner[] = [];
  /** How many subjects each admission names. */
  readonly subjects: number[] = [];
  readonly keys: string[] = [];
  readonly args: (string | number)[] = [];
  sentAt = 0;
  /** Its owners heard (a reply, a failure or a timeout): later news of it is ignored. */
  done = false;

  replied(r: number[]): void {
    this.done = true;
    let at = 0;
    for (let i = 0; i < this.owners.length; i++) {
      const n = this.subjects[i]!;
      this.owners[i]!.sharedReply(Number(r[at]), Number(r[at + 1]), r, at + 2);
      at += 2 + 5 * n;
    }
  }

  failed(): void {
    this.done = true;
    for (let i = 0; i < this.owners.length; i++) this.owners[i]!.sharedReply(0, 0, null, 0);
  }
}
