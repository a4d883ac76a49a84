import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpSession } from './http-session.js';

/** How long a body held at the quota waits before asking the budget again (a reload may raise the quota). */
const RETRY_MS = 250;

/**
 * Streams an origin's response body to the client within the user's byte quota: each chunk is booked with the
 * session's budget (the one the user's engine relays share) before it is written, so the body stops at the quota's
 * byte (chunked framing is booked with its chunk). What the budget does not allow is held, the origin paused, until
 * the quota is raised or accounting's cut closes the session, as an engine relay waits at its budget. Used only for
 * users with a quota (else `pipe`).
 */
export class BudgetedBody {
  private readonly source: IncomingMessage;
  private readonly sink: ServerResponse;
  private readonly session: HttpSession;
  private held: Buffer | null = null;
  private timer: NodeJS.Timeout | null = null;
  private ended = false;

  constructor(source: IncomingMessage, sink: ServerResponse, session: HttpSession) {
    this.source = source;
    this.sink = sink;
    this.session = session;
    // The head goes out on its own and is booked first, so the body's share is what is left after it.
    sink.flushHeaders();
    session.sync(1);
    source.on('data', this.onData.bind(this));
    source.on('end', this.onEnd.bind(this));
    sink.on('drain', this.onDrain.bind(this));
    sink.on('close', this.onClose.bind(this));
  }

  private onData(chunk: Buffer): void {
    if (!this.write(chunk)) this.source.pause();
  }

  /**
   * Writes what the budget allows of `chunk`, its chunked framing booked with it; false when the source must wait
   * (backpressure or the quota).
   */
  private write(chunk: Buffer): boolean {
    const chunked = this.sink.chunkedEncoding;
    const want = chunk.length + (chunked ? framing(chunk.length) : 0);
    const granted = this.session.take(want);
    let body = chunk.length;
    if (granted < want) {
      // The budget gave what it had: the largest body that fits with its own framing.
      body = granted;
      if (chunked) while (body > 0 && body + framing(body) > granted) body--;
    }
    let ok = true;
    if (body > 0) ok = this.sink.write(body === chunk.length ? chunk : chunk.subarray(0, body));
    this.session.sync(1);
    if (body === chunk.length) return ok;
    this.held = chunk.subarray(body);
    this.timer = setTimeout(retryHeld, RETRY_MS, this);
    return false;
  }

  /** @internal the retry timer fired: the budget is asked again for the held bytes. */
  retry(): void {
    this.timer = null;
    const held = this.held;
    if (held === null || this.sink.destroyed) return;
    this.held = null;
    if (!this.write(held)) return;
    if (this.ended) this.finish();
    else this.source.resume();
  }

  private onDrain(): void {
    if (this.held === null && !this.ended) this.source.resume();
  }

  private onEnd(): void {
    this.ended = true;
    if (this.held === null) this.finish();
  }

  private finish(): void {
    this.sink.end();
    this.session.sync(1);
  }

  private onClose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.held = null;
  }
}

/** The bytes Node's chunked encoding adds around a chunk of `n` bytes: its size in hex, CRLF, and CRLF after. */
function framing(n: number): number {
  return n.toString(16).length + 4;
}

function retryHeld(body: BudgetedBody): void {
  body.retry();
}
