import type { Dialect } from '../../dialects/types.js';
import { UpstreamStreamError } from '../../errors.js';
import { upstreamErrorMessage } from './error-body.js';
import type { ResponseSink, SinkHost, SinkKind, UpstreamAnswer } from './sink.js';

/** An upstream error body is kept this far (error bodies are small). */
const BODY_MAX = 16 * 1024;

/**
 * A keep-alive already opened the client's event stream (status 200 and headers out) and the upstream answered
 * something a stream cannot pass on: an error status, or a JSON body. Its body is collected (bounded) and the stream
 * ends with an error event in the client's dialect that quotes the upstream's message, redacted.
 */
export class OpenStreamErrorSink implements ResponseSink {
  readonly streams = false;
  readonly sse = true;
  readonly host: SinkHost;
  readonly answer: UpstreamAnswer;
  chunks: Buffer[] = [];
  bytes = 0;

  constructor(host: SinkHost, answer: UpstreamAnswer) {
    this.host = host;
    this.answer = answer;
  }

  onFirstByte(): void {}

  onData(chunk: Buffer): void {
    if (this.bytes < BODY_MAX) this.chunks.push(chunk);
    this.bytes += chunk.length;
  }

  onEnd(): void {
    const answer = this.answer;
    const text = answer.redact(Buffer.concat(this.chunks).toString('utf8', 0, Math.min(this.bytes, BODY_MAX)));
    this.chunks = [];
    const what = answer.status >= 400
      ? `answered ${answer.status}`
      : `answered ${answer.contentType || 'no content-type'} to a stream request`;
    const message = `channel "${answer.channel.name}" ${what}: ${upstreamErrorMessage(text)}`;
    this.host.streamFailed(new UpstreamStreamError(message));
  }
}

export const OPEN_STREAM_ERROR: SinkKind = {
  matches: function openStreamError(answer, _convert, sse, opened) {
    return opened && (answer.status >= 400 || !sse);
  },
  create: function openStreamErrorSink(host: SinkHost, answer: UpstreamAnswer, _upstream: Dialect) {
    return new OpenStreamErrorSink(host, answer);
  },
};
