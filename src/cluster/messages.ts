import type { RequestLogColumns } from '../contracts/usage-log.js';
import type { ServiceStatus } from '../contracts/service-status.js';
import type { ReloadResult } from '../runtime/reload-result.js';

/**
 * The IPC protocol between the primary and its workers (v8 serialization). A delta row is
 * `[kind (0 user, 1 service), id, period, bytesIn, bytesOut, connections, requests, tokens, inputTokens,
 * cacheReadTokens, cacheWriteTokens, outputTokens, reasoningTokens, costMicros]`; a usage row is
 * `[id, period, usedIn, usedOut, requests, tokens, inputTokens, cacheReadTokens, cacheWriteTokens, outputTokens,
 * reasoningTokens, costMicros]` (the user's current period as the primary knows it).
 */
export type DeltaRow = [number, string, string, ...number[]];
export type UsageRow = [string, string, ...number[]];
/**
 * Gateway admissions and settlements, flat (limit-client.ts writes them, limit-hub.ts reads them). An admission is
 * `id, subjects, reserved, spendUser, model, input, output, keyBudgetId, keyInput, keyOutput, keyCost` then per
 * subject `id, rpm, tpm, concurrent`; a settlement `id, delta, booked (0|1)` then, when booked, `totalTokens,
 * inputTokens, cacheReadTokens, cacheWriteTokens, outputTokens, reasoningTokens, costMicros`; a key's spend a
 * worker booked alone `0, 0, 2, keyBudgetId` then the same seven figures. Live relays are
 * `user, count` pairs.
 */
export type LimitArgs = (string | number | null)[];

/** What a worker reports about itself about once a second (and with every answer). */
export interface WorkerReport {
  readonly services: ServiceStatus[];
  readonly liveRelays: number;
  readonly caches: Record<string, unknown>;
  readonly relayEngine: 'native' | 'js';
  readonly relayEngineFallback: string | null;
}

/**
 * A service address whose SO_REUSEPORT socket the primary holds for the worker's slot (listener-table.ts): the
 * configured host and port, and the port it is bound to (they differ for port 0).
 */
export interface ListenerKey {
  readonly service: string;
  readonly host: string;
  readonly port: number;
  readonly bound: number;
}

/**
 * Primary → worker. `config` is an encoded Config (config-codec.ts); `requestLog`: the primary writes a request log
 * (without one, a worker sends no rows). `listeners`: every address the primary holds
 * sockets for (the worker lets go of others), null when node:cluster shares the listeners; `listener` comes with
 * the socket of one of them as its IPC handle, before the `start` or `reload` that needs it.
 */
export type ToWorker =
  | { readonly t: 'start'; readonly config: unknown; readonly generation: number; readonly usage: UsageRow[];
    readonly workers: number; readonly listeners: ListenerKey[] | null; readonly requestLog: boolean }
  | { readonly t: 'reload'; readonly id: number; readonly config: unknown; readonly generation: number;
    readonly usage: UsageRow[]; readonly listeners: ListenerKey[] | null }
  | { readonly t: 'listener'; readonly key: ListenerKey }
  | { readonly t: 'usage'; readonly usage: UsageRow[] }
  | { readonly t: 'ack'; readonly seq: number }
  | { readonly t: 'admitted'; readonly seq: number; readonly r: number[]; readonly names: (string | null)[] | null }
  | { readonly t: 'closeUser'; readonly user: string; readonly reason: string }
  | { readonly t: 'resetUsage'; readonly user: string }
  | { readonly t: 'stop'; readonly graceMs: number };

/** Worker → primary. */
export type FromWorker =
  | { readonly t: 'hello' }
  | { readonly t: 'ready'; readonly generation: number; readonly report: WorkerReport }
  | { readonly t: 'failed'; readonly code: string; readonly message: string }
  | { readonly t: 'reloaded'; readonly id: number; readonly result: ReloadResult | null; readonly error: string | null;
    readonly services: unknown; readonly report: WorkerReport }
  | { readonly t: 'deltas'; readonly seq: number; readonly ack: boolean; readonly rows: DeltaRow[];
    readonly log: RequestLogColumns | null; readonly settles: LimitArgs; readonly live: LimitArgs }
  | { readonly t: 'admit'; readonly seq: number; readonly args: LimitArgs }
  | { readonly t: 'report'; readonly report: WorkerReport }
  | { readonly t: 'event'; readonly type: string; readonly data: Record<string, unknown> };

export const COUNTER_FIELDS = [
  'bytesIn', 'bytesOut', 'connections', 'requests', 'tokens', 'inputTokens', 'cacheReadTokens', 'cacheWriteTokens',
  'outputTokens', 'reasoningTokens', 'costMicros',
] as const;

/** The fields of a usage row after usedIn and usedOut: the user's spent gateway budget. */
export const SPENT_FIELDS = [
  'requests', 'tokens', 'inputTokens', 'cacheReadTokens', 'cacheWriteTokens', 'outputTokens', 'reasoningTokens',
  'costMicros',
] as const;
