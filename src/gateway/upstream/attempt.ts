import type { Client } from 'undici';
import { UpstreamTimeoutError } from '../../errors.js';
import type { Channel } from './channel.js';
import type { Exchange } from '../exchange.js';
import type { UpstreamCredential } from './key-ring.js';
import { redactSecrets } from './redact.js';
import type { PooledHandler } from './upstream-pool.js';

/** Statuses that mean "this channel (or key) cannot serve now": fail over instead of passing them on. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500 || status === 401 || status === 403 || status === 408;
}

/** Attempt phases. */
export const WAITING = 0; // sent, nothing back yet
export const REJECTED = 1; // a retryable status arrived; its (small) body is read for the error message
export const ACCEPTED = 2; // a status to pass on arrived; waiting for the first body byte
export const FLOWING = 3; // first body byte arrived
export const DONE = 4; // ended, failed or abandoned: every later callback is ignored

/** Error bodies of rejected attempts are kept only this far (for the message of the final error). */
const REJECT_BODY_MAX = 2048;

/**
 * One try of one request on one channel, with a first-byte deadline (checked by the gateway's Watchdog). It speaks undici's core handler interface
 * (onConnect / onHeaders / onData / onComplete / onError): undici's clients call exactly these, and a handler with the
 * newer hooks is wrapped per request in an adapter that also parses every response header into an object. Here the
 * raw header list is scanned once for the four headers the gateway uses. Methods on the prototype, no closures;
 * every field set in the constructor. The Exchange decides what happens.
 */
export class Attempt implements PooledHandler {
  readonly exchange: Exchange;
  readonly channel: Channel;
  readonly credential: UpstreamCredential;
  /** Whether this attempt holds a half-open probe slot of the channel's breaker. */
  readonly probe: boolean;
  readonly startedAt: number;
  /** undici's abort for this request, from onConnect. */
  abortUpstream: ((err: Error) => void) | null = null;
  /** undici's resume for a paused response body, from onHeaders. */
  resumeUpstream: (() => void) | null = null;
  paused = false;
  aborted = false;
  phase = WAITING;
  status = 0;
  contentType = '';
  /** The upstream's content-length, or -1 when it sent none. */
  contentLength = -1;
  requestId: string | null = null;
  retryAfterMs: number | null = null;
  rejectBody: Buffer[] | null = null;
  rejectBytes = 0;
  /** performance.now() by which the first body byte must arrive; Infinity once it did or the attempt ended. */
  firstByteDeadline: number;
  /** Set when the exchange gave up on this attempt before undici started it. */
  abandonReason: Error | null = null;
  /** The channel's client serving this attempt, until undici ends it (see UpstreamPool). */
  upstreamClient: Client | null = null;

  constructor(exchange: Exchange, channel: Channel, credential: UpstreamCredential, probe: boolean, firstByteTimeoutMs: number) {
    this.exchange = exchange;
    this.channel = channel;
    this.credential = credential;
    this.probe = probe;
    this.startedAt = performance.now();
    this.firstByteDeadline = this.startedAt + firstByteTimeoutMs;
  }

  clearDeadline(): void {
    this.firstByteDeadline = Infinity;
  }

  /** Aborts the upstream request now (or as soon as undici starts it). */
  abort(reason: Error): void {
    this.clearDeadline();
    if (this.abortUpstream === null) {
      this.abandonReason = reason;
      return;
    }
    if (this.aborted) return;
    this.aborted = true;
    this.abortUpstream(reason);
  }

  /** The client's socket is full: the next onData answers false, which pauses undici's parser. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    // Once the response is over, undici's parser may already serve another request on that socket: leave it be.
    if (this.resumeUpstream !== null && this.phase !== DONE) this.resumeUpstream();
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.abandonReason !== null) {
      this.aborted = true;
      abort(this.abandonReason);
    }
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (this.phase === DONE) return true;
    this.status = statusCode;
    this.resumeUpstream = resume;
    let retryAfter: string | null = null;
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!;
      switch (name.length) {
        case 10: // request-id
          if (this.requestId === null && nameIs(name, 'request-id')) this.requestId = rawHeaders[i + 1]!.toString('latin1');
          break;
        case 11: // retry-after
          if (nameIs(name, 'retry-after')) retryAfter = rawHeaders[i + 1]!.toString('latin1');
          break;
        case 12: // content-type, x-request-id
          if (nameIs(name, 'content-type')) this.contentType = contentTypeOf(rawHeaders[i + 1]!);
          else if (nameIs(name, 'x-request-id')) this.requestId = rawHeaders[i + 1]!.toString('latin1');
          break;
        case 14: // content-length
          if (nameIs(name, 'content-length')) this.contentLength = decimalOf(rawHeaders[i + 1]!);
          break;
      }
    }
    if (isRetryableStatus(statusCode)) {
      this.phase = REJECTED;
      this.retryAfterMs = parseRetryAfter(retryAfter);
      this.rejectBody = [];
      return true;
    }
    this.phase = ACCEPTED;
    this.exchange.onAccepted(this);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.phase === DONE) return true;
    if (this.phase === REJECTED) {
      if (this.rejectBytes < REJECT_BODY_MAX) {
        this.rejectBody!.push(chunk);
        this.rejectBytes += chunk.length;
      }
      return true;
    }
    if (this.phase === ACCEPTED) {
      this.phase = FLOWING;
      this.clearDeadline();
      this.exchange.onFirstByte(this);
    }
    this.exchange.onData(this, chunk);
    return !this.paused;
  }

  onComplete(): void {
    this.releaseClient();
    if (this.phase === DONE) return;
    this.clearDeadline();
    if (this.phase === REJECTED) {
      this.phase = DONE;
      this.exchange.onRejected(this);
      return;
    }
    if (this.phase === ACCEPTED) this.exchange.onFirstByte(this);
    this.phase = DONE;
    this.exchange.onEnd(this);
  }

  /** undici ended the request with an error (or the channel could not take it). */
  onError(err: Error): void {
    this.releaseClient();
    this.fail(err);
  }

  /** Undici is done with this attempt's client: the channel may give it to the next request. */
  private releaseClient(): void {
    const client = this.upstreamClient;
    if (client === null) return;
    this.upstreamClient = null;
    this.channel.pool.release(client);
  }

  /** The attempt failed (from undici, or given up by the gateway before undici started it). */
  fail(err: Error): void {
    if (this.phase === DONE) return;
    this.clearDeadline();
    const flowing = this.phase === FLOWING;
    this.phase = DONE;
    this.exchange.onUpstreamError(this, err, flowing);
  }

  /** The rejected attempt's body (secrets redacted), for the final error message. */
  rejectText(): string {
    if (this.rejectBody === null || this.rejectBody.length === 0) return '';
    return this.redact(Buffer.concat(this.rejectBody).toString('utf8', 0, REJECT_BODY_MAX)).replace(/\s+/g, ' ').trim();
  }

  /** Upstream error text without the channel's secrets (nor this attempt's own, should a reload have dropped it). */
  redact(text: string): string {
    const secrets = this.channel.keys.secrets();
    const own = this.credential.secret;
    return redactSecrets(text, secrets.includes(own) ? secrets : [...secrets, own]);
  }
}

/** Case-insensitive match of a raw header name against a lower-case name of the same length. */
function nameIs(raw: Buffer, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    const c = raw[i]!;
    if ((c >= 0x41 && c <= 0x5a ? c + 0x20 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** The last content-type decoded: a channel answers with the same one again and again, so bytes are compared. */
let lastTypeBytes: Buffer = Buffer.alloc(0);
let lastType = '';

/** A content-type header value as a string, without decoding it when it repeats the last one. */
function contentTypeOf(raw: Buffer): string {
  const last = lastTypeBytes;
  if (raw.length === last.length) {
    let i = 0;
    while (i < raw.length && raw[i] === last[i]) i++;
    if (i === raw.length) return lastType;
  }
  lastType = raw.toString('latin1');
  // A copy: undici's header buffers may be views of its socket buffer, which the next read overwrites.
  lastTypeBytes = Buffer.from(raw);
  return lastType;
}

/** A content-length value (digits only: undici's parser has checked it) as a number; -1 if it is not one. */
function decimalOf(raw: Buffer): number {
  if (raw.length === 0 || raw.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const d = raw[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** The first-byte deadline passed (called by the Watchdog's sweep). */
export function firstByteTimedOut(attempt: Attempt): void {
  attempt.firstByteDeadline = Infinity;
  if (attempt.phase === DONE || attempt.phase === FLOWING) return;
  const err = new UpstreamTimeoutError(`channel "${attempt.channel.name}" sent no first byte within ${attempt.exchange.core.config.firstByteTimeoutMs} ms`);
  if (attempt.abortUpstream !== null) {
    attempt.abort(err);
    return;
  }
  // Not started yet (waiting for one of the channel's clients, or connecting): give up on it now. The pool drops it
  // from its queue, or undici aborts it the moment it starts.
  attempt.abandonReason = err;
  attempt.fail(err);
}

/** Retry-After as seconds or an HTTP date → ms, or null. */
export function parseRetryAfter(v: string | null): number | null {
  if (v === null) return null;
  const seconds = Number(v);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(v);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - Date.now());
}
