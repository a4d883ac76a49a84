import type { Dialect } from '../../dialects/types.js';
import { familyOf } from '../routing/endpoints.js';
import { convertErrorBody } from './error-body.js';
import type { ResponseSink, SinkHost, SinkKind, UpstreamAnswer } from './sink.js';

/** A passed-on error body is kept this far; the rest is dropped (error bodies are small). */
const ERROR_BODY_MAX = 64 * 1024;

/**
 * An error status passed on (one that is not failed over): its body collected (bounded), the channel's secrets
 * redacted (upstream error text may quote the key it was sent), in the endpoint's dialect, then sent.
 */
export class UpstreamErrorSink implements ResponseSink {
  readonly streams = false;
  readonly sse = false;
  readonly host: SinkHost;
  readonly answer: UpstreamAnswer;
  /** The dialect the channel answered in. */
  readonly from: Dialect;
  chunks: Buffer[] = [];
  bytes = 0;

  constructor(host: SinkHost, answer: UpstreamAnswer, from: Dialect) {
    this.host = host;
    this.answer = answer;
    this.from = from;
  }

  onFirstByte(): void {}

  onData(chunk: Buffer): void {
    if (this.bytes < ERROR_BODY_MAX) this.chunks.push(chunk);
    this.bytes += chunk.length;
  }

  onEnd(): void {
    const host = this.host;
    const answer = this.answer;
    const body = Buffer.concat(this.chunks);
    this.chunks = [];
    const text = answer.redact(body.toString('utf8', 0, Math.min(body.length, ERROR_BODY_MAX)));
    const from = familyOf(this.from);
    const converted = from !== host.endpoint.family;
    const to = host.endpoint.family;
    const out = Buffer.from(converted ? convertErrorBody(from, to, Buffer.from(text), answer.status) : text);
    host.commit(out.length, converted ? 'application/json' : answer.contentType, false);
    host.end(out);
    host.done(null);
  }
}

export const UPSTREAM_ERROR: SinkKind = {
  matches: function upstreamError(answer) {
    return answer.status >= 400;
  },
  create: function upstreamErrorSink(host, answer, upstream) {
    return new UpstreamErrorSink(host, answer, upstream);
  },
};
