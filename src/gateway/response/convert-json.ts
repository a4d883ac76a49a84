import type { ChatDialect, Dialect } from '../../dialects/types.js';
import { UpstreamStreamError } from '../../errors.js';
import type { ResponseSink, SinkHost, SinkKind, UpstreamAnswer } from './sink.js';
import { readUsage } from './usage.js';

/**
 * A whole (non-streamed) answer in the other chat dialect: collected, converted by the codec, then sent. Below the
 * pool's offload threshold the conversion runs inline in onEnd (no promise, no microtask); above it, in the pool.
 */
export class ConvertJsonSink implements ResponseSink {
  readonly streams = false;
  readonly sse = false;
  readonly host: SinkHost;
  readonly answer: UpstreamAnswer;
  /** The dialect the channel answered in. */
  readonly from: Dialect;
  chunks: Buffer[] = [];

  constructor(host: SinkHost, answer: UpstreamAnswer, from: Dialect) {
    this.host = host;
    this.answer = answer;
    this.from = from;
  }

  onFirstByte(): void {}

  onData(chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  onEnd(): void {
    const host = this.host;
    const chunks = this.chunks;
    this.chunks = [];
    const upstream = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    let out: Buffer | null;
    try {
      out = host.codec.convertResponseInline(this.from as ChatDialect, host.endpoint.dialect as ChatDialect, upstream);
    } catch (err) {
      this.unconvertible(err as Error);
      return;
    }
    if (out === null) host.guard(this.pooled(upstream));
    else this.send(upstream, out);
  }

  private async pooled(upstream: Buffer): Promise<void> {
    const host = this.host;
    let out: Buffer;
    try {
      out = await host.codec.convertResponse(this.from as ChatDialect, host.endpoint.dialect as ChatDialect, upstream);
    } catch (err) {
      this.unconvertible(err as Error);
      return;
    }
    this.send(upstream, out);
  }

  private send(upstream: Buffer, out: Buffer): void {
    const host = this.host;
    if (host.clientGone) return;
    readUsage(upstream, host.usage);
    host.commit(out.length, this.answer.contentType, false);
    host.end(out);
    host.done(null);
  }

  /** Error statuses never come here (upstream-error.ts): a 2xx/3xx body that does not convert is the upstream's. */
  private unconvertible(err: Error): void {
    const why = `channel "${this.answer.channel.name}" sent a response that cannot be converted: `;
    this.host.fail(new UpstreamStreamError(why + err.message));
  }
}

export const CONVERT_JSON: SinkKind = {
  matches: function convertJson(_answer, convert, sse) {
    return convert && !sse;
  },
  create: function convertJsonSink(host, answer, upstream) {
    return new ConvertJsonSink(host, answer, upstream);
  },
};
