/** What services report when something finishes: the records accounting, the logs and the store consume. */

/** One finished relay, emitted once when both directions have closed. Accounting consumes it. */
export interface RelayRecord {
  readonly service: string;
  readonly user: string | null;
  readonly client: string;
  readonly target: string;
  /** Client→target bytes. */
  readonly bytesIn: number;
  /** Target→client bytes. */
  readonly bytesOut: number;
  readonly durationMs: number;
  readonly reason: string;
}

/** One finished gateway request, as written to `request_log`. Times in ms; tokens null when the upstream said none. */
export interface RequestLogRow {
  ts: number;
  service: string;
  user: string | null;
  channel: string | null;
  endpoint: string;
  model: string | null;
  stream: boolean;
  status: number;
  promptTokens: number | null;
  completionTokens: number | null;
  totalTokens: number | null;
  /** Token classes apart: input without cached tokens, cache reads, cache writes, output without reasoning. */
  inputTokens: number | null;
  cacheReadTokens: number | null;
  cacheWriteTokens: number | null;
  outputTokens: number | null;
  reasoningTokens: number | null;
  /** Cost in millionths of the price's currency (0 when unpriced); null when no tokens were booked. */
  costMicros: number | null;
  /** The counts are estimates: the answer ended before the upstream stated its usage. */
  estimated: boolean;
  /** Request body and answer bytes (metered, not stored in the log). */
  bytesIn: number;
  bytesOut: number;
  latencyMs: number;
  ttfbMs: number | null;
  attempts: number;
  error: string | null;
  /** The client's address: the socket's, or the one a trusted PROXY header named. */
  client: string | null;
}

/** One finished gateway request (the request-log row); accounting reads the per-user token totals from it. */
export type GatewayUsageRecord = RequestLogRow;

/** The booked figures of a request (its request-log row): what budgets count. */
export interface BookedSpend {
  readonly totalTokens: number | null;
  readonly inputTokens: number | null;
  readonly cacheReadTokens: number | null;
  readonly cacheWriteTokens: number | null;
  readonly outputTokens: number | null;
  readonly reasoningTokens: number | null;
  readonly costMicros: number | null;
}

/** The fields accounting reads from a finished gateway request (the gateway's request-log row). */
export interface GatewayUsage extends BookedSpend {
  readonly service: string;
  readonly user: string | null;
  readonly channel: string | null;
  readonly model: string | null;
  readonly promptTokens: number | null;
  readonly completionTokens: number | null;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Upstream attempts: 0 when the request was refused (or failed) before any (it then spends no budget). */
  readonly attempts: number;
}
