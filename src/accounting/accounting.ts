import type { Registry } from 'prom-client';
import type { QuotaBody, UsageBody } from '../contracts/admin-api.js';

export type { QuotaBody, UsageBody };
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { ByteBudget, RateLimit } from '../contracts/rate.js';
import type { Relay, RelayEngine, RelayResult } from '../contracts/relay-engine.js';
import type { Db } from '../store/database.js';
import { Ledger, type LedgerRow } from '../store/ledger.js';
import { Counters } from './delta.js';
import { accountingMetrics } from './metrics.js';
import { ALL_TIME, periodKey, systemClock, type Clock } from './period.js';
import { PriceTable } from './price-table.js';
import { QuotaBudget } from './quota-budget.js';
import {
  budgetStatus, hasSpendBudget, release, reserve, spentBudget, worstCost, type Reservation,
} from './spend.js';
import { RateLimitRegistry } from './rate-limits.js';
import { RedisCounterStore, type RedisStatus } from './redis-store.js';
import type { SharedCounterStore } from './shared-store.js';
import type { LimitStore, LimitStoreStatus } from './limit-store.js';
import { RedisLimitStore } from './redis-limits.js';
import { RedisConnection } from './redis-connection.js';
import { ModelMeters, RefusalMeters } from './model-meters.js';
import { ModelLabels } from './model-labels.js';
import { MeteredRelay, serviceSubject, type Subject, UserAccount } from './subject.js';
import { configuredKeyBudgets, KeyAccount, type KeyBook } from './key-account.js';
import type { QuotaConfig } from '../config/types.js';
import { ThrottledSync, type SyncStatus } from './throttled-sync.js';
import type {
  KeySpend, RefusedReason, Refusal, ServiceAccounting, SpendReservation,
} from '../contracts/accounting.js';
import type { GatewayUsage } from '../contracts/records.js';
import { gatewayTokens } from './gateway-tokens.js';
import type { RelayMeter } from '../contracts/meter.js';
import { SlotList } from '../util/slot-list.js';

/**
 * How often live relays' counters are read: bytes count while connections run, and relays of a user past the quota
 * (stopped by the engine's byte budget at the quota) are closed.
 */
export const SAMPLE_MS = 200;
/** A shared budget's share is never less than this (else the last bytes before the quota take ever longer). */
export const SHARE_FLOOR_BYTES = 64 * 1024;

export interface AccountingOptions {
  readonly log: Logger;
  readonly engine: RelayEngine;
  readonly db: Db | null;
  /** Injectable for period tests; default Date.now. */
  readonly clock?: Clock;
  /** Redis key prefix (instances sharing quotas use the same one). */
  readonly redisPrefix?: string;
  /** Told when a user's live connections are cut (quota exceeded or expired, disabled, removed). */
  readonly onCut?: (user: string, reason: string, closed: number) => void;
  /** Shares deltas and usage through this instead of Redis (a worker process: its primary). */
  readonly shared?: SharedCounterStore;
  /** Shares gateway limits through this instead of Redis (a worker process: its primary). */
  readonly sharedLimits?: LimitStore;
}

export interface AccountingStatus {
  readonly ledger: 'sqlite' | 'off';
  readonly pendingSubjects: number;
  readonly liveRelays: number;
  readonly redis: RedisStatus | { readonly state: 'off' };
  /** Where gateway rate limits are counted: shared through Redis, or in this process (no Redis, or it is down). */
  readonly limits: LimitStoreStatus | { readonly store: 'local' };
}

const EXCEEDED = 'quota_exceeded' as const;
const EXPIRED = 'quota_expired' as const;
const DISABLED = 'user_disabled' as const;
const REMOVED = 'user_removed' as const;

/**
 * Per-user and per-service accounting: meters, quotas, bandwidth limits, the throttled ledger sync and the shared
 * Redis counters. Everything a service calls reads and writes memory only; I/O happens on timers.
 *
 * Durability: deltas reach the ledger at every flush (each interval, at maxPending, on reload, on SIGTERM/SIGINT).
 * A graceful stop loses nothing; a SIGKILL or crash loses at most the deltas counted since the last flush (one
 * interval), and with Redis the shared counters lose at most the last ~100 ms.
 */
export class Accounting implements ServiceAccounting, KeyBook {
  readonly metrics: Registry;
  private readonly log: Logger;
  private readonly options: AccountingOptions;
  private readonly engine: RelayEngine;
  private readonly clock: Clock;
  private readonly ledger: Ledger | null;
  private readonly sync: ThrottledSync;
  private readonly redis: SharedCounterStore | null;
  /** This process's own Redis counter store (not a fleet primary's link): key budgets are shared through it. */
  private readonly ownRedis: RedisCounterStore | null;
  /** The process's one Redis connection (counters and gateway limits), owned and closed here. */
  private readonly redisConnection: RedisConnection | null;
  readonly sharedLimits: LimitStore | null;
  private readonly limits: RateLimitRegistry;
  /** The prices in force (swapped whole on reload). */
  prices: PriceTable;
  private readonly users = new Map<string, UserAccount>();
  /** Client keys' gateway budgets by id (`<service>:k:<user>/<name>`): every gateway service's keys with a budget. */
  private keys = new Map<string, KeyAccount>();
  /** Gateway usage per service, channel and model; refusals per service and reason (for /metrics). */
  private readonly modelMeters = new ModelMeters();
  private readonly modelLabels = new ModelLabels();
  private readonly refusals = new RefusalMeters();
  private readonly services = new Map<string, Subject>();
  /** A list, not a Set: a Set that churns per connection keeps a chain of retired hash tables (see SlotList). */
  private readonly relays = new SlotList<MeteredRelay>('slot');
  /** Users with live relays: the only ones the sampler checks. */
  private readonly liveUsers = new Set<UserAccount>();
  /** Relays closed by the last applyConfig that removed users, by user (what a DELETE /users reply counts). */
  private readonly removedCut = new Map<string, number>();
  private sampler: NodeJS.Timeout | null = null;
  /** A fleet's primary: the user's live relays in its workers (this process relays none). */
  liveElsewhere: ((id: string) => number) | null = null;
  private closing: Promise<void> | null = null;

  private constructor(config: Config, options: AccountingOptions) {
    this.log = options.log;
    this.options = options;
    this.engine = options.engine;
    this.clock = options.clock ?? systemClock;
    this.ledger = options.db ? new Ledger(options.db) : null;
    this.sync = new ThrottledSync(this.ledger, config.store.sync, options.log, this.clock);
    // A worker shares both through its primary: then it opens no Redis connection at all.
    const ownRedis = config.store.redis && (options.shared === undefined || options.sharedLimits === undefined);
    const connection = this.redisConnection = ownRedis ? new RedisConnection(config.store.redis) : null;
    this.ownRedis = options.shared === undefined && connection !== null
      ? new RedisCounterStore(connection, options.log, options.redisPrefix)
      : null;
    this.redis = options.shared ?? this.ownRedis;
    this.sharedLimits = options.sharedLimits
      ?? (connection !== null ? new RedisLimitStore(connection, options.log, options.redisPrefix) : null);
    this.limits = new RateLimitRegistry(options.engine);
    this.prices = new PriceTable(config.pricing);
    const self = this;
    this.metrics = accountingMetrics({
      users: () => self.users.values(),
      services: () => self.services.values(),
      syncCounts() {
        const s = self.sync.status().stats;
        return { ok: s.successfulSyncs, failed: s.failedSyncs, pending: s.pendingUsers };
      },
      redisUp: () => (self.redis === null ? null : self.redis.connected ? 1 : 0),
      remaining: (u) => self.remaining(u),
      unpriced: () => self.prices.unpriced,
      models: () => self.modelMeters.values(),
      refusals: () => self.refusals.counts,
    });
    this.sample = this.sample.bind(this);
  }

  /**
   * Loads durable totals (and, with Redis, the shared usage) for every user and service in `config`, then starts
   * metering. The runtime awaits this before any service accepts, so the first admission already sees the totals.
   */
  static async open(config: Config, options: AccountingOptions): Promise<Accounting> {
    const accounting = new Accounting(config, options);
    if (accounting.redis) await accounting.redis.connect();
    if (accounting.sharedLimits) await accounting.sharedLimits.connect();
    await accounting.applyConfig(config);
    accounting.sync.start();
    return accounting;
  }

  /** Applies users, services, rates and sync settings of a (re)loaded config; new subjects load their totals. */
  async applyConfig(config: Config): Promise<void> {
    const now = this.clock();
    this.modelLabels.use(config);
    if (config.pricing !== this.prices.config) {
      const prices = new PriceTable(config.pricing);
      prices.unpriced = this.prices.unpriced;
      this.prices = prices;
    }
    const added: UserAccount[] = [];
    const seen = new Set<string>();
    for (const u of config.users) {
      seen.add(u.id);
      const account = this.users.get(u.id);
      if (account === undefined) {
        const fresh = new UserAccount(u, now);
        this.loadDurable(fresh);
        this.loadUsed(fresh);
        this.users.set(u.id, fresh);
        added.push(fresh);
      } else {
        const quotaChanged = u.quota !== account.config.quota
          && JSON.stringify(u.quota) !== JSON.stringify(account.config.quota);
        account.config = u;
        // Disabled or expired now: what runs stops, as it would at the quota.
        const refusal = this.refusal(account, now);
        if (refusal === DISABLED || refusal === EXPIRED) this.cut(account, refusal);
        if (quotaChanged) {
          // A new period kind (or zone) has its own totals.
          account.usedPeriod = '';
          account.period(now);
          this.loadUsed(account);
        }
      }
    }
    // Removed users leave metrics and admission and their live relays close (`user_removed`); their last bytes and
    // queued deltas still reach the ledger.
    let removing = false;
    for (const [id, user] of [...this.users]) {
      if (seen.has(id)) continue;
      // Kept until the next reload that removes users (not the runtime's second pass after a failed service).
      if (!removing) this.removedCut.clear();
      removing = true;
      this.users.delete(id);
      this.setBudget(user, false);
      const closed = this.cut(user, REMOVED);
      if (closed > 0) this.removedCut.set(id, closed);
    }
    const serviceNames = new Set(config.services.map((s) => s.name));
    for (const s of config.services) {
      if (!this.services.has(s.name)) {
        const subject = serviceSubject(s.name);
        this.loadDurable(subject);
        this.services.set(s.name, subject);
      }
    }
    for (const name of [...this.services.keys()]) if (!serviceNames.has(name)) this.services.delete(name);
    const addedKeys = this.applyKeys(config, now);
    this.limits.apply(config.users, config.services);
    this.sync.setOptions(config.store.sync);
    if (this.redis) {
      this.redis.setUsers([...this.users.values()].filter((u) => u.quota !== null));
      await this.redis.loadUsers(added);
    }
    if (this.ownRedis) {
      this.ownRedis.setKeys([...this.keys.values()]);
      await this.ownRedis.loadKeys(addedKeys);
    }
    for (const user of this.users.values()) this.setBudget(user, user.quota !== null);
  }

  check(userId: string | null): Refusal | null {
    if (userId === null) return null;
    const user = this.users.get(userId);
    if (user === undefined) return null;
    const reason = this.refusal(user, this.clock());
    return reason === null ? null : { reason, user: userId };
  }

  refused(userId: string | null, service: string, reason: RefusedReason = 'quota'): void {
    this.refusals.add(service, reason);
    if (userId !== null) {
      const user = this.users.get(userId);
      if (user !== undefined) user.refused++;
    }
    this.service(service).refused++;
  }

  rateLimit(userId: string | null, service: string): RateLimit | null {
    return this.limits.forRelay(userId, service);
  }

  /**
   * The quota budget a new relay of `userId` shares, brought up to date (a period may have ended); null without one.
   */
  byteBudget(userId: string | null): ByteBudget | null {
    if (userId === null) return null;
    const user = this.users.get(userId);
    if (user === undefined || user.budget === null) return null;
    this.refreshBudget(user, this.clock());
    return user.budget.engine;
  }

  relayStarted(userId: string | null, serviceName: string, relay: Relay): RelayMeter {
    const user = userId === null ? null : (this.users.get(userId) ?? null);
    const metered = new MeteredRelay(relay, user, this.service(serviceName));
    this.relays.add(metered);
    // The sampler runs only while relays live: an idle process has no timer here.
    if (this.sampler === null && this.closing === null) {
      this.sampler = setInterval(this.sample, SAMPLE_MS);
      this.sampler.unref();
    }
    if (user !== null) {
      user.relays.add(metered);
      this.liveUsers.add(user);
      this.redis?.liveChanged?.(user);
    }
    this.count(user, metered.service, 0, 0, 1, 0, 0);
    return metered;
  }

  relayEnded(meter: RelayMeter, result: RelayResult): string | null {
    const metered = meter as MeteredRelay;
    this.relays.delete(metered);
    const dIn = result.bytesIn - metered.countedIn;
    const dOut = result.bytesOut - metered.countedOut;
    metered.countedIn = result.bytesIn;
    metered.countedOut = result.bytesOut;
    if (dIn !== 0 || dOut !== 0) this.count(metered.user, metered.service, dIn, dOut, 0, 0, 0);
    if (metered.budget !== null) metered.budget.count(dIn, dOut);
    const user = metered.user;
    if (user !== null) {
      user.relays.delete(metered);
      if (user.relays.size === 0) this.liveUsers.delete(user);
      this.redis?.liveChanged?.(user);
    }
    return metered.cutReason;
  }

  addRequest(userId: string | null, service: string, tokens: number): void {
    const user = userId === null ? null : (this.users.get(userId) ?? null);
    this.count(user, this.service(service), 0, 0, 0, 1, tokens);
  }

  addGatewayUsage(usage: GatewayUsage): void {
    const user = usage.user === null ? null : (this.users.get(usage.user) ?? null);
    const service = this.service(usage.service);
    // Bytes count for the service (metrics), not toward users' byte quotas: gateway users are held by token budgets.
    // A request refused before any upstream attempt (429 over a limit or budget, 400 …) counts for the service
    // only: the user's `requests` budget is spent by admitted requests.
    const spender = usage.attempts > 0 ? user : null;
    this.count(spender, service, 0, 0, 0, 1, gatewayTokens(usage));
    if (usage.bytesIn !== 0 || usage.bytesOut !== 0) this.count(null, service, usage.bytesIn, usage.bytesOut, 0, 0, 0);
    if (usage.inputTokens === null) return;
    const input = usage.inputTokens;
    const read = usage.cacheReadTokens ?? 0;
    const write = usage.cacheWriteTokens ?? 0;
    const output = usage.outputTokens ?? 0;
    const reasoning = usage.reasoningTokens ?? 0;
    const cost = usage.costMicros ?? 0;
    if (spender !== null) spender.recordTokens(input, read, write, output, reasoning, cost);
    service.recordTokens(input, read, write, output, reasoning, cost);
    const label = this.modelLabels.label(usage.service, usage.model);
    const m = this.modelMeters.meter(usage.service, usage.channel, label);
    m.requests++;
    m.input += input;
    m.cacheRead += read;
    m.cacheWrite += write;
    m.output += output;
    m.reasoning += reasoning;
    m.costMicros += cost;
  }

  cost(model: string | null, input: number, cacheRead: number, cacheWrite: number, output: number,
    reasoning: number): number {
    return this.prices.cost(model, input, cacheRead, cacheWrite, output, reasoning);
  }

  admitSpend(userId: string, model: string, inputEstimate: number,
    maxOutput: number): SpendReservation | Refusal | null {
    const user = this.users.get(userId);
    if (user === undefined || !hasSpendBudget(user.quota)) return null;
    user.period(this.clock());
    const spent = spentBudget(user, user.quota);
    if (spent !== null) return { reason: EXCEEDED, user: userId, budget: spent };
    return reserve(user, this.prices, model, inputEstimate, maxOutput);
  }

  releaseSpend(reservation: SpendReservation): void {
    release(reservation as Reservation);
  }

  worstCost(model: string, input: number, maxOutput: number): number {
    return worstCost(this.prices, model, input, maxOutput);
  }

  refusesUnpriced(model: string): boolean {
    const prices = this.prices;
    return prices.config.unpriced === 'refuse' && prices.lookup(model) === null;
  }

  connectionOpened(service: string): void {
    this.count(null, this.service(service), 0, 0, 1, 0, 0);
  }

  keySpend(id: string, quota: QuotaConfig): KeySpend {
    let account = this.keys.get(id);
    if (account === undefined) {
      // Not in the config this accounting last applied (a service built before it): loaded now, kept until then.
      account = this.openKey(id, quota, this.clock());
      this.keys.set(id, account);
      this.ownRedis?.setKeys([...this.keys.values()]);
    } else {
      this.requota(account, quota, this.clock());
    }
    return account;
  }

  /** @internal KeyBook: a key account booked spend; the ledger and Redis get it with the next flush. */
  keySpent(account: KeyAccount): void {
    this.sync.markDirty(account);
    if (this.ownRedis !== null) this.ownRedis.markDirty(account);
  }

  /**
   * One key account per gateway service and key with a budget (kept while the key keeps one, its quota updated);
   * returns the new ones.
   */
  private applyKeys(config: Config, now: number): KeyAccount[] {
    const next = new Map<string, KeyAccount>();
    const added: KeyAccount[] = [];
    for (const [id, quota] of configuredKeyBudgets(config)) {
      let account = this.keys.get(id);
      if (account === undefined) {
        account = this.openKey(id, quota, now);
        added.push(account);
      } else {
        this.requota(account, quota, now);
      }
      next.set(id, account);
    }
    this.keys = next;
    return added;
  }

  /** A reloaded key quota; one whose period kind changed reads the new period's spend from the ledger. */
  private requota(account: KeyAccount, quota: QuotaConfig, now: number): void {
    if (quota === account.quota) return;
    account.quota = quota;
    if (periodKey(quota, now) === account.usedPeriod) return;
    account.periodAt(now);
    this.loadKeySpent(account);
  }

  private openKey(id: string, quota: QuotaConfig, now: number): KeyAccount {
    const account = new KeyAccount(id, quota, now, this);
    this.loadKeySpent(account);
    return account;
  }

  /** A key's spend in its current period: the ledger's row plus deltas not yet in it. */
  private loadKeySpent(account: KeyAccount): void {
    account.spent.clear();
    account.spent.addSpendFrom(this.periodTotals(account, account.usedPeriod));
  }

  /** `GET /users/:id/usage`; null for a user not in the config. */
  usage(id: string): UsageBody | null {
    const user = this.users.get(id);
    if (user === undefined) return null;
    const now = this.clock();
    const pending = new Counters();
    for (const d of user.carried) pending.addFrom(d);
    pending.addFrom(user.pending);
    const q = user.quota;
    return {
      id,
      live: {
        ...user.live.toJSON(), liveConnections: user.relays.size + (this.liveElsewhere?.(id) ?? 0),
        refused: user.refused,
      },
      durable: user.durable.toJSON(),
      pending: pending.toJSON(),
      quota: q === null ? null : {
        bytes: q.bytes,
        direction: q.direction,
        period: q.period,
        timezone: q.timezone,
        currentPeriod: user.period(now),
        used: user.used(),
        remaining: this.remaining(user)!,
        expiresAt: q.expiresAt === null ? null : new Date(q.expiresAt).toISOString(),
        refusal: this.refusal(user, now),
      },
      spend: !hasSpendBudget(q) ? null : {
        period: user.period(now), spent: user.spent.toJSON(), budgets: budgetStatus(user, q),
        currency: q.costCurrency ?? this.prices.config.currency ?? null,
      },
    };
  }

  /**
   * Counts a delta another process measured (a worker's batch, at the primary): into the subject's meters, its
   * ledger deltas and its current usage, as if counted here. False for a user no longer in the config.
   */
  ingest(kind: 'user' | 'service', id: string, period: string, c: ArrayLike<number>): boolean {
    let subject: Subject;
    if (kind === 'user') {
      const user = this.users.get(id);
      if (user === undefined) return false;
      if (user.period(this.clock()) === period) {
        user.usedIn += c[0]!;
        user.usedOut += c[1]!;
      }
      subject = user;
    } else {
      subject = this.service(id);
    }
    subject.record(period, c[0]!, c[1]!, c[2]!, c[3]!, c[4]!);
    subject.recordTokens(c[5]!, c[6]!, c[7]!, c[8]!, c[9]!, c[10]!);
    this.sync.markDirty(subject);
    if (this.redis !== null) this.redis.markDirty(subject);
    return true;
  }

  /** A user's best-known usage of its current period (what a primary tells its workers); null if unknown. */
  sharedUsage(id: string): { period: string; usedIn: number; usedOut: number; spent: Counters } | null {
    const user = this.users.get(id);
    if (user === undefined) return null;
    const period = user.period(this.clock());
    return { period, usedIn: user.usedIn, usedOut: user.usedOut, spent: user.spent };
  }

  /** Ids of the users with a quota or a budget (whose usage other processes need). */
  quotaUsers(): string[] {
    const ids: string[] = [];
    for (const user of this.users.values()) if (user.quota !== null) ids.push(user.id);
    return ids;
  }

  /** Re-reads a user's quota against its usage now (usage raised from outside): cuts or moves the engine budget. */
  usageRaised(id: string): void {
    const user = this.users.get(id);
    if (user === undefined || user.relays.size === 0) return;
    const now = this.clock();
    const reason = this.refusal(user, now);
    if (reason !== null) this.cut(user, reason);
    if (user.budget !== null) this.refreshBudget(user, now);
  }

  /** `GET /sync`. */
  syncStatus(): SyncStatus {
    return this.sync.status();
  }

  status(): AccountingStatus {
    return {
      ledger: this.ledger ? 'sqlite' : 'off',
      pendingSubjects: this.sync.pending,
      liveRelays: this.relays.size,
      redis: this.redis ? this.redis.status() : { state: 'off' },
      limits: this.sharedLimits ? this.sharedLimits.status() : { store: 'local' },
    };
  }

  /** Reads live relays now, then writes every queued delta to the ledger (and Redis); reload and tests call it. */
  async flush(): Promise<boolean> {
    this.sample();
    if (this.redis) await this.redis.sync();
    return this.sync.flush();
  }

  /** Final sample and flush on shutdown (after services stopped); idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (this.sampler !== null) clearInterval(this.sampler);
    this.sampler = null;
    this.sample();
    if (this.redis) await this.redis.close();
    if (this.sharedLimits) await this.sharedLimits.close();
    if (this.redisConnection !== null) this.redisConnection.close();
    await this.sync.close();
    this.limits.dispose();
    for (const user of this.users.values()) this.setBudget(user, false);
  }

  private service(name: string): Subject {
    let subject = this.services.get(name);
    if (subject === undefined) {
      // Services come from the config; one unknown here (e.g. mid-reload) still gets counted.
      subject = serviceSubject(name);
      this.loadDurable(subject);
      this.services.set(name, subject);
    }
    return subject;
  }

  private count(
    user: UserAccount | null, service: Subject, dIn: number, dOut: number, dConn: number, dReq: number, dTok: number,
  ): void {
    if (user !== null) {
      const period = user.period(this.clock());
      user.record(period, dIn, dOut, dConn, dReq, dTok);
      user.usedIn += dIn;
      user.usedOut += dOut;
      this.sync.markDirty(user);
      if (this.redis !== null) this.redis.markDirty(user);
    }
    service.record(ALL_TIME, dIn, dOut, dConn, dReq, dTok);
    this.sync.markDirty(service);
    if (this.redis !== null) this.redis.markDirty(service);
  }

  /** Every SAMPLE_MS: counts what live relays moved since the last sample and cuts users past their quota. */
  private sample(): void {
    const relays = this.relays;
    for (let i = 0; i < relays.size; i++) {
      const metered = relays.at(i);
      const relay = metered.relay;
      const bytesIn = relay.bytesIn;
      const bytesOut = relay.bytesOut;
      const dIn = bytesIn - metered.countedIn;
      const dOut = bytesOut - metered.countedOut;
      if (dIn === 0 && dOut === 0) continue;
      metered.countedIn = bytesIn;
      metered.countedOut = bytesOut;
      this.count(metered.user, metered.service, dIn, dOut, 0, 0, 0);
      if (metered.budget !== null) metered.budget.count(dIn, dOut);
    }
    if (relays.size === 0 && this.sampler !== null) {
      // The last relay ended (its bytes were counted then): the next one starts the sampler again.
      clearInterval(this.sampler);
      this.sampler = null;
    }
    if (this.liveUsers.size === 0) return;
    const now = this.clock();
    for (const user of this.liveUsers) {
      if (user.quota === null && user.config.expiresAt === null) continue;
      const reason = this.refusal(user, now);
      if (reason !== null) this.cut(user, reason);
      // Usage may have moved outside this process (Redis) or a period may have begun: the engine hears of it.
      if (user.budget !== null) this.refreshBudget(user, now);
    }
  }

  /** Gives a user with a quota an engine budget, or releases the budget of a user without one (or removed). */
  private setBudget(user: UserAccount, wanted: boolean): void {
    if (wanted && user.budget === null) {
      user.budget = new QuotaBudget(this.engine.createByteBudget());
    } else if (!wanted && user.budget !== null) {
      user.budget.release();
      user.budget = null;
    }
    if (user.budget !== null) this.refreshBudget(user, this.clock());
  }

  /** The engine stops a user's relays where the quota ends; a user refused (expired, exceeded) has nothing left. */
  private refreshBudget(user: UserAccount, now: number): void {
    const q = user.quota!;
    let remaining = this.refusal(user, now) === null ? q.bytes - user.used() : 0;
    const share = this.redis?.budgetShare ?? 1;
    if (share > 1 && remaining > SHARE_FLOOR_BYTES) {
      remaining = Math.max(SHARE_FLOOR_BYTES, Math.ceil(remaining / share));
    }
    user.budget!.refresh(q, remaining);
  }

  /**
   * Pushed reports: every delta the ledger gets is added to `outbox` in the same transaction (null: stop). Only
   * the all-time rows: each delta is also written to its quota period's row, which would count it twice.
   */
  setReportOutbox(outbox: { add(row: LedgerRow): void } | null): boolean {
    if (this.ledger === null) return false;
    this.ledger.setOutbox(outbox === null ? null : {
      add(row: LedgerRow): void {
        // Key budgets' rows repeat their users' spend: reports carry users and services only.
        if (row.period === ALL_TIME && row.kind !== 'key') outbox.add(row);
      },
    });
    return true;
  }

  /**
   * Closes every live relay of `userId` (a user removed through the admin API: `user_removed`), whether or not
   * the user is still in the config; returns how many.
   */
  closeUser(userId: string, reason: string): number {
    // Those the reload that removed the user closed already count too.
    let closed = 0;
    if (reason === REMOVED) {
      closed = this.removedCut.get(userId) ?? 0;
      this.removedCut.delete(userId);
    }
    let more = 0;
    for (const metered of this.relays.toArray()) {
      if (metered.user === null || metered.user.id !== userId || metered.cutReason !== null) continue;
      metered.cutReason = reason;
      metered.relay.close('closed');
      more++;
    }
    if (more > 0) {
      this.log.info({ user: userId, reason, closed: more }, 'closed a user\'s live connections');
      this.options.onCut?.(userId, reason, more);
    }
    return closed + more;
  }

  /**
   * Starts the user's current quota period again from zero: the ledger's row for the period gets the opposite of
   * its total (deltas only ever add), and the in-memory usage drops to zero. All-time totals stay.
   */
  async resetUsage(userId: string): Promise<boolean> {
    const user = this.users.get(userId);
    if (user === undefined) return false;
    await this.flush();
    const period = user.period(this.clock());
    const row = this.ledger?.read('user', userId, period) ?? null;
    const used = row !== null && (row.bytesIn !== 0 || row.bytesOut !== 0 || row.requests !== 0 || row.tokens !== 0);
    if (this.ledger !== null && row !== null && period !== ALL_TIME && used) {
      // The gateway budgets' period starts again too: requests, tokens by class and cost.
      const counts = {
        bytesIn: -row.bytesIn, bytesOut: -row.bytesOut, connections: 0, requests: -row.requests, tokens: -row.tokens,
        inputTokens: -row.inputTokens, cacheReadTokens: -row.cacheReadTokens, cacheWriteTokens: -row.cacheWriteTokens,
        outputTokens: -row.outputTokens, reasoningTokens: -row.reasoningTokens, costMicros: -row.costMicros,
      };
      // Not a report: the traffic happened; only the quota period starts again.
      this.ledger.write([{ kind: 'user', subject: userId, period, counts }], this.clock(), false);
    }
    user.usedIn = 0;
    user.usedOut = 0;
    user.spent.clear();
    if (user.budget !== null) this.refreshBudget(user, this.clock());
    return true;
  }

  private cut(user: UserAccount, reason: string): number {
    let closed = 0;
    // A copy: closing a relay can end it at once, which takes it off the list.
    for (const metered of user.relays.toArray()) {
      if (metered.cutReason !== null) continue;
      metered.cutReason = reason;
      metered.relay.close('closed');
      closed++;
    }
    if (closed > 0) {
      this.log.info({ user: user.id, reason, closed, used: user.used() }, 'closed a user\'s live connections');
      this.options.onCut?.(user.id, reason, closed);
    }
    return closed;
  }

  private refusal(user: UserAccount, now: number): Refusal['reason'] | null {
    if (!user.config.enabled) return DISABLED;
    if (user.config.expiresAt !== null && now >= user.config.expiresAt) return EXPIRED;
    const q = user.quota;
    if (q === null) return null;
    if (q.expiresAt !== null && now >= q.expiresAt) return EXPIRED;
    user.period(now);
    return user.used() >= q.bytes ? EXCEEDED : null;
  }

  private remaining(user: UserAccount): number | null {
    const q = user.quota;
    if (q === null) return null;
    user.period(this.clock());
    return Math.max(0, q.bytes - user.used());
  }

  private loadDurable(subject: Subject): void {
    if (this.ledger === null) return;
    const row = this.ledger.read(subject.kind, subject.id, ALL_TIME);
    if (row !== null) subject.durable.addFrom(row);
  }

  /** Usage of the user's current period: the ledger's row plus deltas not yet in it. */
  private loadUsed(user: UserAccount): void {
    const used = this.periodTotals(user, user.usedPeriod);
    user.spent.clear();
    user.spent.addSpendFrom(used);
    user.usedIn = used.bytesIn;
    user.usedOut = used.bytesOut;
  }

  /** A subject's totals of `period`: the ledger's row plus the deltas of that period not yet in it. */
  private periodTotals(subject: Subject, period: string): Counters {
    const totals = new Counters();
    const row = this.ledger?.read(subject.kind, subject.id, period) ?? null;
    if (row !== null) totals.addFrom(row);
    for (const d of subject.carried) if (d.period === period) totals.addFrom(d);
    if (subject.pending.period === period) totals.addFrom(subject.pending);
    return totals;
  }
}
