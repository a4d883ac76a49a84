import type { RequestSummary } from '../dialects/types.js';
import type { GatewayError } from '../errors.js';
import type { RequestLogRow } from '../contracts/records.js';
import type { TokenUsage } from './response/usage.js';

/** What the usage row of one exchange is read from (the Exchange). */
export interface RowSource {
  readonly ts: number;
  readonly startedAt: number;
  readonly user: string | null;
  readonly channelName: string | null;
  readonly attempt: { readonly channel: { readonly name: string } } | null;
  readonly endpoint: { readonly path: string };
  readonly status: number;
  readonly usage: TokenUsage;
  readonly ttfbMs: number | null;
  readonly attempts: number;
}

/** The request-log row of a finished exchange. */
export function usageRow(
  x: RowSource, summary: RequestSummary | null, service: string, err: GatewayError | null,
): RequestLogRow {
  const u = x.usage;
  return {
    ts: x.ts,
    service,
    user: x.user,
    channel: x.channelName ?? x.attempt?.channel.name ?? null,
    endpoint: x.endpoint.path,
    model: summary?.model ?? null,
    stream: summary?.stream ?? false,
    status: x.status,
    promptTokens: u.prompt,
    completionTokens: u.completion,
    totalTokens: u.total,
    latencyMs: performance.now() - x.startedAt,
    ttfbMs: x.ttfbMs,
    attempts: x.attempts,
    error: err === null ? null : err.code,
  };
}
