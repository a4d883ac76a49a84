import type { RequestSummary } from '../dialects/types.js';
import type { GatewayError } from '../errors.js';
import type { RequestLogRow } from '../contracts/records.js';
import type { TokenUsage } from './response/usage.js';
import type { ServiceAccounting } from '../contracts/accounting.js';
import type { Admission } from './limits/admission.js';
import type { RateLimiter } from './limits/rate-limiter.js';

/** What the usage row of one exchange is read from (the Exchange). */
export interface RowSource {
  readonly ts: number;
  readonly startedAt: number;
  readonly clientAddress: string | null;
  readonly user: string | null;
  readonly channelName: string | null;
  readonly attempt: { readonly channel: { readonly name: string } } | null;
  readonly endpoint: { readonly path: string };
  readonly status: number;
  readonly usage: TokenUsage;
  readonly ttfbMs: number | null;
  readonly attempts: number;
  /** An answer went out (the upstream served it, so it is billed). */
  readonly committed: boolean;
  readonly intake: { readonly bytes: number };
  readonly writer: { readonly bytes: number };
}

/** Where a row goes (the GatewayCore). */
export interface RowBook {
  readonly serviceName: string;
  readonly pricer: RowPricer;
  readonly accounting: ServiceAccounting;
  record(row: RequestLogRow): void;
}

/**
 * Books a finished exchange: its row to the log and meters, then its spend settled (reservations given back, the
 * real tokens on the limits), in that order so the real figures count before the reservation goes.
 */
export function bookRow(
  x: RowSource & { readonly admission: Admission; readonly attempt: { readonly channel: BookedChannel } | null },
  summary: RequestSummary | null, book: RowBook, err: GatewayError | null,
): void {
  const row = usageRow(x, summary, book.serviceName, err, book.pricer);
  book.record(row);
  x.admission.settle(book.accounting, row, x.attempt === null ? null : x.attempt.channel);
}

interface BookedChannel {
  readonly name: string;
  readonly limiter: RateLimiter | null;
}

/** Prices a booked row: cost in micro-units of the model's currency (0: unpriced). */
export interface RowPricer {
  cost(model: string | null, usage: TokenUsage): number;
}

/**
 * The request-log row of a request refused before it was routed (`perIp.rate`: no exchange, before auth), like an
 * exchange's refusal row: status and error code, no user, model or tokens, no upstream attempt.
 */
export function refusedRow(
  service: string, endpoint: string, err: GatewayError, bytesOut: number, client: string | null, startedAt: number,
): RequestLogRow {
  return {
    ts: Date.now(), service, user: null, channel: null, endpoint, model: null, stream: false, status: err.status,
    promptTokens: null, completionTokens: null, totalTokens: null, inputTokens: null, cacheReadTokens: null,
    cacheWriteTokens: null, outputTokens: null, reasoningTokens: null, costMicros: null, estimated: false,
    bytesIn: 0, bytesOut, latencyMs: performance.now() - startedAt, ttfbMs: null, attempts: 0, error: err.code, client,
  };
}

/**
 * The request-log row of a finished exchange. An answer that went out but ended before the upstream stated its usage
 * (client abort, upstream failure, timeout) is booked with estimates and flagged: never booked as null.
 */
export function usageRow(
  x: RowSource, summary: RequestSummary | null, service: string, err: GatewayError | null, pricer: RowPricer | null,
): RequestLogRow {
  const u = x.usage;
  const missing = u.prompt === null || (summary !== null && summary.stream && u.completion === null);
  if (x.committed && summary !== null && (err !== null || missing)) {
    u.estimate(summary.estimatedPromptTokens, err !== null);
  }
  u.finish();
  const booked = u.prompt !== null || u.completion !== null;
  const model = summary?.model ?? null;
  return {
    ts: x.ts,
    service,
    user: x.user,
    channel: x.channelName ?? x.attempt?.channel.name ?? null,
    endpoint: x.endpoint.path,
    model,
    stream: summary?.stream ?? false,
    status: x.status,
    promptTokens: u.prompt,
    completionTokens: u.completion,
    totalTokens: u.total,
    inputTokens: booked ? u.input : null,
    cacheReadTokens: booked ? u.cacheRead : null,
    cacheWriteTokens: booked ? u.cacheWrite : null,
    outputTokens: booked ? u.output : null,
    reasoningTokens: booked ? u.reasoning : null,
    costMicros: booked ? (pricer === null ? 0 : pricer.cost(model, u)) : null,
    estimated: u.estimated,
    bytesIn: x.intake.bytes,
    bytesOut: x.writer.bytes,
    latencyMs: performance.now() - x.startedAt,
    ttfbMs: x.ttfbMs,
    attempts: x.attempts,
    error: err === null ? null : err.code,
    client: x.clientAddress,
  };
}
