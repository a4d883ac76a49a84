/**
 * The admin API's JSON shapes, declared once: the server's handlers produce them and the dashboard (ui/src/types.ts)
 * imports them, so the two cannot drift. Types only, and no imports: the dashboard's type check reads this file
 * under its own (browser, no Node types) settings.
 */

export type ServiceKind = 'forward' | 'proxy' | 'gateway';
export type ServiceState = 'starting' | 'running' | 'draining' | 'stopped' | 'failed';
/** Where a managed item comes from: the config file, or the admin API's overlay. */
export type ItemOrigin = 'file' | 'api';
/** Why a user is refused (quota used up, past expiry, disabled). */
export type RefusalReason = 'quota_exceeded' | 'quota_expired' | 'user_disabled';

/** What a service reports about itself (`/status` `services[]`, `/services` items). */
export interface ServiceStatus {
  readonly name: string;
  readonly type: ServiceKind;
  readonly listen: string;
  readonly state: ServiceState;
  readonly connections: { readonly live: number; readonly total: number; readonly refused: number };
  readonly bytes: { readonly in: number; readonly out: number };
  /** Service-specific detail (targets and their health, channels, breakers …). */
  readonly detail?: Record<string, unknown>;
}

/**
 * `GET /status`. The accounting and pool parts are the server's own status types (their fields are many and move
 * with those subsystems); the dashboard reads them as plain records.
 */
export interface StatusBody<Accounting = Record<string, unknown>, Pool = Record<string, unknown>> {
  readonly version: string;
  readonly uptimeSeconds: number;
  readonly relayEngine: 'native' | 'js';
  readonly relayEngineFallback: string | null;
  readonly reloads: { readonly total: number; readonly failed: number; readonly lastError: string | null };
  /** The worker pool, once a service needed it. */
  readonly pool: Pool | null;
  readonly services: readonly ServiceStatus[];
  /** Ledger and shared Redis counter state. */
  readonly accounting: Accounting;
  /** Worker processes (`workers` > 1): each one's state, restarts and connections. */
  readonly workers?: unknown;
}

/** A service's numbers in one stats sample: live connections, bytes in and out, gateway requests so far. */
export type ServiceSample = readonly [live: number, bytesIn: number, bytesOut: number, requests: number];

/** What the dashboard charts (`GET /stats/stream`): one entry per service, counters as they are. */
export interface StatsSample {
  /** Epoch milliseconds. */
  readonly t: number;
  readonly services: Readonly<Record<string, ServiceSample>>;
}

/** A page of a listing (`/users`, `/services`, `/requests`). */
export interface Page<T> {
  readonly items: readonly T[];
  /** Pass as `cursor` for the next page; null on the last one. */
  readonly nextCursor: string | null;
}

/** A `/users` item. */
export interface UserItem {
  readonly id: string;
  readonly origin: ItemOrigin;
  /** The user as validated, secrets redacted. */
  readonly config: Record<string, unknown>;
  readonly issuedKeys: readonly { readonly id: string; readonly createdAt: string }[];
}

/** A `/services` item. */
export interface ServiceItem {
  readonly name: string;
  readonly type: string;
  readonly origin: ItemOrigin;
  readonly config: Record<string, unknown>;
  readonly status: ServiceStatus | null;
}

/** A subject's counters (bytes, connections, requests, tokens by class, cost in millionths). */
export interface CountersBody {
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly connections: number;
  readonly requests: number;
  readonly tokens: number;
  readonly inputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  readonly outputTokens: number;
  readonly reasoningTokens: number;
  readonly costMicros: number;
}

export interface QuotaBody {
  readonly bytes: number;
  readonly direction: string;
  readonly period: string;
  readonly timezone: string;
  readonly currentPeriod: string;
  readonly used: number;
  readonly remaining: number;
  readonly expiresAt: string | null;
  readonly refusal: RefusalReason | null;
}

/** One gateway budget (tokens, requests, cost …) in its period. */
export interface BudgetStatus {
  readonly budget: string;
  readonly limit: number;
  readonly used: number;
  /** The worst case of the requests still running. */
  readonly reserved: number;
  readonly remaining: number;
}

/** `GET /users/:id/usage` (the server adds `limits` for gateway users). */
export interface UsageBody {
  readonly id: string;
  /** Counted by this process since it started, live relays included. */
  readonly live: CountersBody & { readonly liveConnections: number; readonly refused: number };
  /** All-time totals in the durable ledger (every run), without what waits for the next flush. */
  readonly durable: CountersBody;
  /** Deltas waiting for the next flush. */
  readonly pending: CountersBody;
  readonly quota: QuotaBody | null;
  /**
   * Gateway spend of the current period: requests, tokens by class and cost booked, and each budget's limit, use,
   * reservations and remainder (null without a token, request or cost budget).
   */
  readonly spend: {
    readonly period: string; readonly spent: CountersBody; readonly budgets: readonly BudgetStatus[];
    readonly currency: string | null;
  } | null;
}

/** A `GET /requests` row. */
export interface RequestRow {
  readonly id: number;
  readonly ts: string;
  readonly service: string;
  readonly user: string | null;
  readonly channel: string | null;
  readonly endpoint: string;
  readonly model: string | null;
  readonly stream: boolean;
  readonly status: number;
  readonly promptTokens: number | null;
  readonly completionTokens: number | null;
  readonly totalTokens: number | null;
  readonly latencyMs: number;
  readonly ttfbMs: number | null;
  readonly attempts: number;
  readonly error: string | null;
  /** The client's address (null in rows older than the column). */
  readonly client: string | null;
}

/** A `GET /events` event: its type, when, and the event's own fields. */
export interface LiveEvent {
  readonly type: string;
  readonly at: string;
  readonly [key: string]: unknown;
}
