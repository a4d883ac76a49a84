import type { Family } from '../routing/endpoints.js';
import type { ClientWriter } from './client-writer.js';

/** An SSE comment: OpenAI's, the Responses and Google's SDK readers skip it. */
const COMMENT = ': keep-alive\n\n';
/** Anthropic's own keep-alive event, which its SDK skips. */
const ANTHROPIC_PING = 'event: ping\ndata: {"type": "ping"}\n\n';

/**
 * `sseKeepAlive`: while a streamed request's upstream has sent nothing yet, the client's stream is opened (status and
 * headers from the ClientWriter) and gets a keep-alive frame in its dialect's accepted form every interval, so a long
 * time to first token does not make a client or a proxy in between give up. Driven by the exchange's deadline check
 * (the watchdog's tick), no timer of its own; stopped by the upstream's first byte.
 */
export class KeepAlive {
  readonly everyMs: number;
  readonly frame: string;
  /** performance.now() of the next frame; Infinity once stopped. */
  nextAt: number;

  constructor(everyMs: number, family: Family, now: number) {
    this.everyMs = everyMs;
    this.frame = family === 'anthropic' ? ANTHROPIC_PING : COMMENT;
    this.nextAt = now + everyMs;
  }

  /** A frame is due: opens the stream first if it is not open yet (returns true then). */
  beat(writer: ClientWriter, now: number, extra: string[] | null): boolean {
    const opened = !writer.opened;
    if (opened) writer.open(extra);
    writer.write(this.frame, null);
    this.nextAt = now + this.everyMs;
    return opened;
  }

  stop(): void {
    this.nextAt = Infinity;
  }
}
