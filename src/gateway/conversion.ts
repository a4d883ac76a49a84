import type { UrlFields } from '../dialects/convert-request.js';
import type { ChatDialect, Dialect, JsonObject } from '../dialects/types.js';
import type { BodyCodec } from './codec.js';

const STREAM_OPTIONS = Buffer.from(',"stream_options":{"include_usage":true}}');

/**
 * The request body in the other chat dialect, converted once (inline below the pool's offload threshold, in the pool
 * above it) and reused by later attempts on channels of that dialect. Made only for requests that need it.
 */
export class RequestConversion {
  readonly codec: BodyCodec;
  readonly from: ChatDialect;
  /** Gemini's model and streaming, from its URL; null for dialects that say them in the body. */
  readonly inUrl: UrlFields | null;
  converted: Buffer | null = null;
  convertedFor: Dialect | null = null;

  constructor(codec: BodyCodec, from: Dialect, inUrl: UrlFields | null) {
    this.codec = codec;
    this.from = from as ChatDialect;
    this.inUrl = inUrl;
  }

  /**
   * The body in `to`: kept, or converted inline; null when it must be converted in the pool. Throws on a bad body.
   * `root`: the body as parsed and validated for routing (small bodies), so it is not parsed again; else null.
   */
  inline(to: Dialect, body: Buffer, stream: boolean, root: JsonObject | null): Buffer | null {
    if (this.convertedFor === to) return this.converted;
    const converted = root !== null
      ? this.codec.convertParsed(this.from, to as ChatDialect, root, body.byteLength, this.inUrl)
      : this.codec.convertInline(this.from, to as ChatDialect, body, this.inUrl);
    return converted === null ? null : this.keep(to, converted, stream);
  }

  async pooled(to: Dialect, body: Buffer, stream: boolean): Promise<Buffer> {
    return this.keep(to, await this.codec.convertRequest(this.from, to as ChatDialect, body, this.inUrl), stream);
  }

  release(): void {
    this.converted = null;
  }

  private keep(to: Dialect, converted: Buffer, stream: boolean): Buffer {
    if (to === 'openai-chat' && stream && converted.indexOf('"stream_options"') === -1) {
      // Ask for the final usage chunk: the converter turns it into Anthropic's message_delta usage.
      converted = withStreamOptions(converted);
    }
    this.converted = converted;
    this.convertedFor = to;
    return converted;
  }
}

/** Adds `stream_options.include_usage` before the closing brace of a converted (compact, object) body. */
function withStreamOptions(body: Buffer): Buffer {
  let end = body.length - 1;
  while (end > 0 && body[end] !== 0x7d) end--;
  return Buffer.concat([body.subarray(0, end), STREAM_OPTIONS]);
}
