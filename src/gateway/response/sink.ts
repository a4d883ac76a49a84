import type { Dialect } from '../../dialects/types.js';
import type { GatewayError } from '../../errors.js';
import type { BodyCodec } from '../codec.js';
import type { Endpoint } from '../routing/endpoints.js';
import type { TokenUsage } from './usage.js';

/**
 * How one upstream answer's body travels to the client: one class per path (pass-through JSON, pass-through SSE,
 * converted SSE, converted JSON, upstream error body), chosen once per answer by chooseSink. A new path (a dialect,
 * a policy) is a new file and a row in choose.ts, never a branch in the exchange.
 */
export interface ResponseSink {
  /** Headers go out at the first byte; false: the body is collected and answered whole at its end. */
  readonly streams: boolean;
  /** A failure after the first byte is told as an SSE error event; false: the connection is cut. */
  readonly sse: boolean;
  /** The first body byte (or an empty body's end) arrived: a streaming sink sends the headers. */
  onFirstByte(): void;
  onData(chunk: Buffer): void;
  onEnd(): void;
}

/** The upstream answer a sink serves (the Attempt): its status, headers and redaction. */
export interface UpstreamAnswer {
  readonly status: number;
  readonly contentType: string;
  /** -1 when the upstream sent none. */
  readonly contentLength: number;
  readonly channel: { readonly name: string };
  /** Upstream text without the channel's secrets. */
  redact(text: string): string;
}

/** What a sink may do to the exchange it serves (the Exchange implements it). */
export interface SinkHost {
  readonly usage: TokenUsage;
  /** `stripUsage`: the gateway asked for a usage chunk the client did not (usage-request.ts). */
  readonly plan: { readonly stripUsage: boolean };
  readonly clientGone: boolean;
  readonly endpoint: Endpoint;
  readonly codec: BodyCodec;
  /** Writes to the client with backpressure (a full socket pauses the upstream until `drain`). */
  write(data: Buffer | string): void;
  /** Sends the status line and headers; contentLength -1: none (an `sse` answer then gets `cache-control`). */
  commit(contentLength: number, contentType: string, sse: boolean): void;
  /** Ends the response, with `last` as its final bytes when given. */
  end(last: Buffer | null): void;
  /** The exchange is over: usage row out. */
  done(err: GatewayError | null): void;
  /** Answers an error (before anything was sent) or ends a started answer with one. */
  fail(err: GatewayError): void;
  /** After the first byte: ends the response with an error, never a clean end. */
  streamFailed(err: GatewayError): void;
  /** Runs an async step; what it throws unexpectedly answers 500. */
  guard(step: Promise<void>): void;
}

/** One response path: when it serves an answer, and how to build its sink (module-level functions, no closures). */
export interface SinkKind {
  /**
   * `convert`: the channel speaks another dialect than the endpoint; `sse`: the answer is an event stream; `opened`:
   * a keep-alive already sent the client a 200 event stream's headers.
   */
  matches(answer: UpstreamAnswer, convert: boolean, sse: boolean, opened: boolean): boolean;
  create(host: SinkHost, answer: UpstreamAnswer, upstream: Dialect, model: string): ResponseSink;
}
