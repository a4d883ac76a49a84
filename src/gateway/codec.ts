import { convertParsedRequest, convertRequestBody, type UrlFields } from '../dialects/convert-request.js';
import { decodeJsonBody } from '../dialects/decode.js';
import { convertResponseBody } from '../dialects/convert-response.js';
import { countBodyTokens, type TokenCount } from '../dialects/count-tokens.js';
import {
  convertRequest, convertResponse, countTokens, parseRequest, type ParsedRequest, type SummarizeInput,
  type SummarizeOutput,
} from '../dialects/offload.js';
import { expectObject } from '../dialects/shape.js';
import { summarizeParsed, summarizeRequest } from '../dialects/summarize.js';
import type { ChatDialect, Dialect, JsonObject, RequestSummary } from '../dialects/types.js';
import {
  BadRequestBodyError, GatewayBusyError, GatewayError, GatewayInternalError, JsonBodyError, PoolQueueFullError,
} from '../errors.js';
import type { WorkerPool } from '../pool/pool.js';
import { defineTask } from '../pool/task.js';
import { mostlyLongStrings, summarizeLong } from './long-body.js';

/**
 * A large body made mostly of long strings is summarized from its skeleton on this thread up to this size: the
 * skeleton costs ~0.6 µs/KiB of CPU here, less than the pool hop itself at 1 MiB
 * (`node dist/bench/body-scan-measure.js`: 0.67 ms against 2.0 ms of CPU in all threads with the body transferred,
 * 2.8 ms for JSON.parse), and stays near the loop's 1 ms budget up to 1.5 MiB. Larger ones go to the pool.
 */
export const LONG_BODY_INLINE_BYTES = 1536 * 1024;

const SUMMARIZE_LONG_TASK = defineTask<SummarizeInput, SummarizeOutput>(
  new URL('./tasks.js', import.meta.url), 'summarizeLongBody',
);

/**
 * The body work the gateway needs (parse a request for routing, convert requests and non-streamed responses).
 * Whether a body is worked on this thread or in the pool is the pool's one decision (`offloads()`); without a
 * pool (a runtime started with none) the same dialect functions run inline. Errors come back as GatewayErrors.
 */
export class BodyCodec {
  private readonly pool: WorkerPool | null;

  constructor(pool: WorkerPool | null) {
    this.pool = pool;
  }

  /** Below the offload threshold: parses on this thread, without a promise; null means "use parse()". */
  parseInline(dialect: Dialect, body: Buffer, sessionField: string | null): RequestSummary | null {
    if (this.pool !== null && this.pool.offloads(body.byteLength)) return null;
    return summarizeRequest(dialect, body, sessionField);
  }

  /**
   * parseInline's first half: the body parsed on this thread (kept by the caller so a conversion needs no second
   * parse), or null above the offload threshold. Then summarizeParsed(root).
   */
  decodeInline(body: Buffer): JsonObject | null {
    if (this.pool !== null && this.pool.offloads(body.byteLength)) return null;
    return expectObject(decodeJsonBody(body), '$');
  }

  /**
   * A body at or above the offload threshold that is mostly long strings and at most LONG_BODY_INLINE_BYTES,
   * summarized from its skeleton on this thread (throws like summarizeRequest); null means "use parseLarge()".
   */
  summarizeLongInline(dialect: Dialect, body: Buffer, sessionField: string | null): RequestSummary | null {
    if (body.byteLength > LONG_BODY_INLINE_BYTES || !mostlyLongStrings(body)) return null;
    return summarizeLong(dialect, body, sessionField);
  }

  summarizeParsed(dialect: Dialect, root: JsonObject, sessionField: string | null): RequestSummary {
    return summarizeParsed(dialect, root, sessionField);
  }

  /** Below the offload threshold: converts on this thread; null means "use convertRequest()". */
  convertInline(from: ChatDialect, to: ChatDialect, body: Buffer, inUrl: UrlFields | null = null): Buffer | null {
    if (this.pool !== null && this.pool.offloads(body.byteLength)) return null;
    return convertRequestBody(from, to, body, inUrl);
  }

  /**
   * Converts a request already parsed and validated as `from` (decodeInline + summarizeParsed), on this thread; null
   * means "use convertRequest()". `byteLength`: the body's, for the pool's decision and its inline count.
   */
  convertParsed(
    from: ChatDialect, to: ChatDialect, root: JsonObject, byteLength: number, inUrl: UrlFields | null,
  ): Buffer | null {
    if (this.pool !== null && this.pool.offloads(byteLength)) return null;
    return convertParsedRequest(from, to, root, inUrl);
  }

  /**
   * A body at or above the offload threshold (parseInline said null), summarized in the pool: from its skeleton when
   * long strings make most of it (long-body.ts), else parsed whole. The body is transferred to the worker, not
   * copied, and comes back as `body` (the caller's Buffer is detached when it owned its memory: use the returned one).
   */
  async parseLarge(dialect: Dialect, body: Buffer, sessionField: string | null): Promise<ParsedRequest> {
    const pool = this.pool;
    try {
      const long = mostlyLongStrings(body);
      if (pool === null) {
        const s = long ? summarizeLong(dialect, body, sessionField) : summarizeRequest(dialect, body, sessionField);
        return withBody(s, body);
      }
      if (!long) return await parseRequest(pool, dialect, body, { sessionField, transfer: true });
      return await summarizeLongInPool(pool, dialect, body, sessionField);
    } catch (err) {
      throw toGatewayError(err);
    }
  }

  async convertRequest(
    from: ChatDialect, to: ChatDialect, body: Buffer, inUrl: UrlFields | null = null,
  ): Promise<Buffer> {
    try {
      if (this.pool !== null) return await convertRequest(this.pool, from, to, body, { inUrl });
      return convertRequestBody(from, to, body, inUrl);
    } catch (err) {
      throw toGatewayError(err);
    }
  }

  /** Counts a request's tokens locally (in the pool when there is one: see dialects/offload.ts). */
  async countTokens(dialect: Dialect, body: Buffer, model: string | null): Promise<TokenCount> {
    try {
      if (this.pool !== null) return await countTokens(this.pool, dialect, body, model);
      return await countBodyTokens(dialect, body, model);
    } catch (err) {
      throw toGatewayError(err);
    }
  }

  /**
   * Below the offload threshold: converts a response on this thread, without a promise; null means "use
   * convertResponse()". Throws the JsonBodyError as is.
   */
  convertResponseInline(from: ChatDialect, to: ChatDialect, body: Buffer): Buffer | null {
    if (this.pool !== null && this.pool.offloads(body.byteLength)) return null;
    return convertResponseBody(from, to, body);
  }

  /** Rejects with the JsonBodyError as is: a bad upstream body is the upstream's fault (502), not the client's. */
  convertResponse(from: ChatDialect, to: ChatDialect, body: Buffer): Promise<Buffer> {
    if (this.pool !== null) return convertResponse(this.pool, from, to, body);
    try {
      return Promise.resolve(convertResponseBody(from, to, body));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }
}

export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  if (err instanceof JsonBodyError) return new BadRequestBodyError(err.message, err.path, err.position);
  if (err instanceof PoolQueueFullError) {
    const e = new GatewayBusyError(`gateway is busy: ${err.message}`);
    e.retryAfterSeconds = err.retryAfterSeconds;
    return e;
  }
  return new GatewayInternalError(err instanceof Error ? err.message : String(err));
}

/** The skeleton summary in a worker, the body transferred there and back (copied when it shares its memory). */
function summarizeLongInPool(
  pool: WorkerPool, dialect: Dialect, body: Buffer, sessionField: string | null,
): Promise<ParsedRequest> {
  const refused = pool.refusal();
  if (refused !== null) return refused;
  const input = pool.transferable(body, true);
  const task: SummarizeInput = { dialect, body: input, sessionField };
  const run = pool.run(SUMMARIZE_LONG_TASK, task, { transferList: [input.buffer as ArrayBuffer] });
  if (input === body) return run.then(movedBack);
  return run.then(function recycled(r) {
    pool.recycle(r.body.buffer as ArrayBuffer);
    return withBody(r.summary, body);
  });
}

function movedBack(r: SummarizeOutput): ParsedRequest {
  return withBody(r.summary, Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength));
}

function withBody(s: RequestSummary, body: Buffer): ParsedRequest {
  return {
    model: s.model, stream: s.stream, sessionId: s.sessionId, messageCount: s.messageCount,
    estimatedPromptTokens: s.estimatedPromptTokens, body,
  };
}
