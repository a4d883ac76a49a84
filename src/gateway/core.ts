import { createHash } from 'node:crypto';
import type { ServiceAccounting } from '../contracts/accounting.js';
import type { GatewayServiceConfig, UserConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { GatewayUsageRecord, RequestLogRow } from '../contracts/records.js';
import type { ServiceEvents } from '../contracts/service-events.js';
import type { UsageLog } from '../contracts/usage-log.js';
import { AffinityTable } from './routing/affinity.js';
import { Channel } from './upstream/channel.js';
import { channelProbe } from './upstream/channel-probe.js';
import type { BodyCodec } from './codec.js';
import { SlotList } from '../util/slot-list.js';
import { Router } from './routing/router.js';
import { Watchdog, type Watched } from './timers/watchdog.js';
import type { RowPricer } from './usage-row.js';
import { SpendPolicies } from './limits/policies.js';
import type { TokenUsage } from './response/usage.js';

/** A request in flight, as the service sees it (the Exchange). */
export interface LiveExchange extends Watched {
  readonly res: { destroy(): void };
}

/**
 * Everything a request needs, owned by one gateway service and swapped in place on reload: channels (kept across
 * reloads when their connection settings are unchanged), router, affinity table, client keys.
 */
export class GatewayCore {
  readonly serviceName: string;
  config: GatewayServiceConfig;
  channels: Map<string, Channel>;
  router: Router;
  readonly affinity: AffinityTable;
  /** Client API key → user id; null when no users are configured (the gateway is open). */
  keys: Map<string, string> | null;
  /** The service's `user`, charged for requests of an open gateway. */
  defaultUser: string | null;
  readonly codec: BodyCodec;
  readonly usageLog: UsageLog | null;
  readonly events: ServiceEvents;
  readonly log: Logger;
  /** Quota checks before a request is served. */
  readonly accounting: ServiceAccounting;
  readonly live = new SlotList<LiveExchange>('slot');
  /** Request and first-byte deadlines of the live exchanges. */
  readonly watchdog: Watchdog;
  /** The spend policies (limits, budgets) of users and keys, for this service. */
  readonly policies: SpendPolicies;
  /** Prices rows when they are booked (accounting's price table). */
  readonly pricer: RowPricer;
  requests = 0;
  failed = 0;
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    config: GatewayServiceConfig, users: ReadonlyMap<string, UserConfig>, codec: BodyCodec, usageLog: UsageLog | null,
    events: ServiceEvents, log: Logger, accounting: ServiceAccounting,
  ) {
    this.accounting = accounting;
    this.pricer = new AccountingPricer(accounting);
    this.serviceName = config.name;
    this.policies = new SpendPolicies(config.name, accounting);
    this.config = config;
    this.channels = new Map(config.channels.map((c) => [c.name, new Channel(c, config, channelProbe)]));
    this.router = new Router(config, this.channels);
    this.affinity = new AffinityTable(config.affinity.maxEntries, config.affinity.ttlMs);
    this.keys = buildKeyMap(users);
    this.policies.apply(users);
    this.defaultUser = config.user;
    this.codec = codec;
    this.usageLog = usageLog;
    this.events = events;
    this.log = log;
    this.watchdog = new Watchdog(this.live, config.firstByteTimeoutMs, config.requestTimeoutMs);
  }

  /** Applies a new config in place; returns the channels that were removed or replaced (to close after drain). */
  update(next: GatewayServiceConfig, users: ReadonlyMap<string, UserConfig>): Channel[] {
    const retired: Channel[] = [];
    const channels = new Map<string, Channel>();
    for (const c of next.channels) {
      const existing = this.channels.get(c.name);
      if (existing !== undefined && existing.canKeep(c)) {
        existing.reconfigure(c, next);
        channels.set(c.name, existing);
      } else {
        if (existing !== undefined) retired.push(existing);
        channels.set(c.name, new Channel(c, next, channelProbe));
      }
    }
    for (const [name, c] of this.channels) if (!channels.has(name)) retired.push(c);
    this.config = next;
    this.channels = channels;
    this.router = new Router(next, channels);
    this.affinity.reconfigure(next.affinity.maxEntries, next.affinity.ttlMs);
    this.keys = buildKeyMap(users);
    this.policies.apply(users);
    this.defaultUser = next.user;
    this.watchdog.retune(next.firstByteTimeoutMs, next.requestTimeoutMs);
    return retired;
  }

  /** The user a client key belongs to; undefined when the key is unknown. */
  userForKey(key: string): string | undefined {
    const keys = this.keys;
    if (keys === null) return undefined;
    const user = keys.get(key);
    // Keys issued by the admin API are kept as hashes only (see buildKeyMap).
    if (user !== undefined || !keys.has(HASHED_KEYS)) return user;
    return keys.get(HASH_PREFIX + createHash('sha256').update(key).digest('hex'));
  }

  record(row: RequestLogRow): void {
    this.usageLog?.push(row);
    const listener = this.events.gatewayRequest;
    if (listener !== undefined) listener.call(this.events, row satisfies GatewayUsageRecord);
  }
}

/** Row costs from accounting's price table; an unpriced model costs 0 (accounting counts it). */
class AccountingPricer implements RowPricer {
  readonly accounting: ServiceAccounting;

  constructor(accounting: ServiceAccounting) {
    this.accounting = accounting;
  }

  cost(model: string | null, u: TokenUsage): number {
    const cost = this.accounting.cost(model, u.input, u.cacheRead, u.cacheWrite, u.output, u.reasoning);
    return cost < 0 ? 0 : cost;
  }
}

/** Entries for hashed keys live in the same map under a prefix no client key can have (a NUL byte). */
const HASH_PREFIX = '\0sha256:';
/** Present when some user has hashed keys: a plain miss is then hashed and looked up again. */
const HASHED_KEYS = '\0hashed';

function buildKeyMap(users: ReadonlyMap<string, UserConfig>): Map<string, string> | null {
  const keys = new Map<string, string>();
  for (const u of users.values()) {
    for (const k of u.keys) keys.set(k, u.id);
    for (const h of u.keyHashes) keys.set(HASH_PREFIX + h.sha256, u.id);
    if (u.keyHashes.length > 0) keys.set(HASHED_KEYS, '');
  }
  return keys.size === 0 ? null : keys;
}
