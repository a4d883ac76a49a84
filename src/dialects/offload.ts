/**
 * The main thread's side of the dialects' pool tasks (tasks.ts): the pool's one inline-or-offload decision, then
 * the dialect function here or the task in a worker. Input problems reject with JsonBodyError in both cases.
 */
import { PoolClosedError } from '../errors.js';
import type { WorkerPool } from '../pool/pool.js';
import { defineTask } from '../pool/task.js';
import { convertRequestBody, type UrlFields } from './convert-request.js';
import { convertResponseBody } from './convert-response.js';
import type { TokenCount } from './count-tokens.js';
import { summarizeRequest } from './summarize.js';
import type { ChatDialect, Dialect, RequestSummary } from './types.js';

export interface SummarizeInput {
  readonly dialect: Dialect;
  readonly body: Uint8Array;
  readonly sessionField: string | null;
}
/** `body` is the input, moved back: the caller's bytes (transfer) or a buffer to recycle (copy). */
export interface SummarizeOutput {
  readonly summary: RequestSummary;
  readonly body: Uint8Array;
}

export interface ConvertInput {
  readonly from: ChatDialect;
  readonly to: ChatDialect;
  readonly body: Uint8Array;
  /** Gemini's model and streaming, from its URL (requests only). */
  readonly inUrl: UrlFields | null;
}
/** The converted body (moved) and the input moved back for recycling (null when the output reuses it). */
export interface ConvertOutput {
  readonly body: Uint8Array;
  readonly input: Uint8Array | null;
}

export interface CountInput {
  readonly dialect: Dialect;
  readonly body: Uint8Array;
  /** The model when the URL says it (Gemini), else null. */
  readonly model: string | null;
}

const TASKS = new URL('./tasks.js', import.meta.url);
export const SUMMARIZE_TASK = defineTask<SummarizeInput, SummarizeOutput>(TASKS, 'summarize');
export const CONVERT_REQUEST_TASK = defineTask<ConvertInput, ConvertOutput>(TASKS, 'convertRequest');
export const CONVERT_RESPONSE_TASK = defineTask<ConvertInput, ConvertOutput>(TASKS, 'convertResponse');
export const COUNT_TOKENS_TASK = defineTask<CountInput, TokenCount>(TASKS, 'countTokens');

export interface ParseOptions {
  /** Dotted path of the session id in the body (e.g. `metadata.user_id`), or null. */
  readonly sessionField?: string | null;
  readonly signal?: AbortSignal;
  /**
   * The caller gives the Buffer up: when it owns its whole ArrayBuffer it is transferred to the worker as is
   * (detached here) and moved back as `ParsedRequest.body`, so a large body crosses threads without a copy. Without
   * it (or for a slice of a larger allocation) the pool copies the body and the caller's Buffer stays usable.
   */
  readonly transfer?: boolean;
}

/** The routing summary plus the body's bytes: the caller's Buffer, or the same bytes moved back (`transfer`). */
export interface ParsedRequest extends RequestSummary {
  readonly body: Buffer;
}

export interface ConvertOptions {
  readonly signal?: AbortSignal;
  readonly inUrl?: UrlFields | null;
  readonly transfer?: boolean;
}

/**
 * A rejection when no work may start (pool closed, signal aborted), for inline and pooled work alike; the pool's
 * own `refusal()` (a full queue) is asked only for work that goes to it, before its body is copied.
 */
function refusal(pool: WorkerPool, signal: AbortSignal | undefined): Promise<never> | null {
  if (pool.closed) return Promise.reject(new PoolClosedError('worker pool is closed'));
  if (signal?.aborted) return Promise.reject(signal.reason);
  return null;
}

/** Summarizes a request body for routing: inline below the pool's threshold, in a worker at or above it. */
export function parseRequest(
  pool: WorkerPool, dialect: Dialect, body: Buffer, opts: ParseOptions = {},
): Promise<ParsedRequest> {
  const refused = refusal(pool, opts.signal);
  if (refused) return refused;
  const sessionField = opts.sessionField ?? null;
  if (!pool.offloads(body.byteLength)) {
    try {
      return Promise.resolve(parsedRequest(summarizeRequest(dialect, body, sessionField), body));
    } catch (err) {
      return Promise.reject(err);
    }
  }
  const full = pool.refusal();
  if (full) return full;
  const input = pool.transferable(body, opts.transfer === true);
  const moved = input === body;
  const task: SummarizeInput = { dialect, body: input, sessionField };
  const run = pool.run(SUMMARIZE_TASK, task, { transferList: [input.buffer as ArrayBuffer], signal: opts.signal });
  return run.then(function unwrapSummary(r) {
    if (moved) return parsedRequest(r.summary, Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength));
    pool.recycle(r.body.buffer as ArrayBuffer);
    return parsedRequest(r.summary, body);
  });
}

export function convertRequest(
  pool: WorkerPool, from: ChatDialect, to: ChatDialect, body: Buffer, opts: ConvertOptions = {},
): Promise<Buffer> {
  return convert(pool, CONVERT_REQUEST_TASK, convertRequestBody, from, to, body, opts);
}

export function convertResponse(
  pool: WorkerPool, from: ChatDialect, to: ChatDialect, body: Buffer, opts: ConvertOptions = {},
): Promise<Buffer> {
  return convert(pool, CONVERT_RESPONSE_TASK, convertResponseBody, from, to, body, opts);
}

function convert(
  pool: WorkerPool,
  task: typeof CONVERT_REQUEST_TASK,
  inline: (from: ChatDialect, to: ChatDialect, body: Uint8Array, inUrl: UrlFields | null) => Buffer,
  from: ChatDialect, to: ChatDialect, body: Buffer, opts: ConvertOptions,
): Promise<Buffer> {
  const refused = refusal(pool, opts.signal);
  if (refused) return refused;
  if (!pool.offloads(body.byteLength)) {
    try {
      return Promise.resolve(inline(from, to, body, opts.inUrl ?? null));
    } catch (err) {
      return Promise.reject(err);
    }
  }
  const full = pool.refusal();
  if (full) return full;
  const input = pool.transferable(body, opts.transfer === true);
  const transferList = [input.buffer as ArrayBuffer];
  const taskInput = { from, to, body: input, inUrl: opts.inUrl ?? null };
  const run = pool.run(task, taskInput, { transferList, signal: opts.signal });
  return run.then(function unwrapConverted(r) {
    if (r.input) pool.recycle(r.input.buffer as ArrayBuffer);
    return Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength);
  });
}

/**
 * Counts a request's tokens locally. Always in the pool, whatever the body's size: building a tokenizer takes
 * hundreds of milliseconds, which the event loop must never wait for. The body is copied (the caller keeps it).
 */
export function countTokens(
  pool: WorkerPool, dialect: Dialect, body: Buffer, model: string | null, signal?: AbortSignal,
): Promise<TokenCount> {
  const refused = refusal(pool, signal) ?? pool.refusal();
  if (refused) return refused;
  return pool.run(COUNT_TOKENS_TASK, { dialect, body, model }, { signal });
}

function parsedRequest(s: RequestSummary, body: Buffer): ParsedRequest {
  return {
    model: s.model, stream: s.stream, sessionId: s.sessionId, messageCount: s.messageCount,
    estimatedPromptTokens: s.estimatedPromptTokens, body,
  };
}
