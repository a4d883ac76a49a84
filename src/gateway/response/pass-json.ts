import type { ResponseSink, SinkHost, SinkKind, UpstreamAnswer } from './sink.js';
import { readGeminiUsage, readUsage } from './usage.js';

/** A usage tail smaller than this is looked for in the previous chunk too. */
const TAIL_BYTES = 4096;

/** A JSON answer in the endpoint's own dialect: passed on chunk by chunk; usage read from its tail. */
export class PassJsonSink implements ResponseSink {
  readonly streams = true;
  readonly sse = false;
  readonly host: SinkHost;
  readonly answer: UpstreamAnswer;
  /** The upstream's content-length, or -1. */
  readonly length: number;
  tailPrev: Buffer | null = null;
  tailLast: Buffer | null = null;
  /** Body bytes received so far. */
  passed = 0;
  /** The last chunk of a body of known length: sent with `end()`, so the response goes out in one call. */
  heldLast: Buffer | null = null;

  constructor(host: SinkHost, answer: UpstreamAnswer) {
    this.host = host;
    this.answer = answer;
    this.length = answer.contentLength;
  }

  onFirstByte(): void {
    this.host.commit(this.length, this.answer.contentType, false);
  }

  onData(chunk: Buffer): void {
    this.tailPrev = this.tailLast;
    this.tailLast = chunk;
    this.passed += chunk.length;
    // The body's last bytes: undici's end follows in the same parse, and end(chunk) writes them with the headers in
    // one go (write() then end() costs a cork, a tick and a second pass through node:http).
    if (this.passed === this.length) this.heldLast = chunk;
    else this.host.write(chunk);
  }

  onEnd(): void {
    const last = this.tailLast;
    const host = this.host;
    if (last !== null) {
      const prev = this.tailPrev;
      const tail = last.length >= TAIL_BYTES || prev === null
        ? last
        : Buffer.concat([prev.subarray(Math.max(0, prev.length - TAIL_BYTES)), last]);
      if (host.endpoint.dialect === 'gemini-generate') readGeminiUsage(tail, host.usage);
      else readUsage(tail, host.usage);
    }
    this.tailPrev = this.tailLast = null;
    const held = this.heldLast;
    this.heldLast = null;
    host.end(held);
    host.done(null);
  }
}

export const PASS_JSON: SinkKind = {
  matches: function passJson(_answer, convert, sse) {
    return !convert && !sse;
  },
  create: function passJsonSink(host, answer) {
    return new PassJsonSink(host, answer);
  },
};
