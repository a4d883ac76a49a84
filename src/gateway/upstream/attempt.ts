import type { IncomingHttpHeaders } from 'node:http';
import type { Client, Dispatcher } from 'undici';
import { UpstreamTimeoutError } from '../../errors.js';
import type { Channel } from './channel.js';
import type { UpstreamCredential } from './key-ring.js';
import { redactSecrets } from './redact.js';
import { contentTypeOf, decimalOf, nameIs, parseRetryAfter } from './header-scan.js';
import type { PooledHandler } from './upstream-pool.js';

/** Statuses that mean "this channel (or key) cannot serve now": fail over instead of passing them on. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500 || status === 401 || status === 403 || status === 408;
}

/** Who an attempt reports to (the Exchange); attempts never see more of it than this. */
export interface AttemptOwner {
  /** A status to pass on arrived (its headers read). */
  onAccepted(a: Attempt): void;
  /** The first body byte, or the end of an empty body. */
  onFirstByte(a: Attempt): void;
  onData(a: Attempt, chunk: Buffer): void;
  onEnd(a: Attempt): void;
  /** A retryable status was read to its end. */
  onRejected(a: Attempt): void;
  /** Connection error, reset, timeout or abort; `flowing`: after the first body byte. */
  onUpstreamError(a: Attempt, err: Error, flowing: boolean): void;
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
 * One try of one request on one channel, with a first-byte deadline (checked by the gateway's Watchdog). It speaks
 * undici's current handler API (onRequestStart / onResponseStart / onResponseData / onResponseEnd / onResponseError,
 * flow control through the controller). undici 7 wraps such a handler per request in an adapter that also parses
 * every response header into an object; the adapter's controller carries the raw header list, which is scanned
 * once here for the four headers the gateway uses (the parsed object is read only when no raw list is given).
 * Methods on the prototype, no closures; every field set in the constructor. The owner decides what happens.
 */
export class Attempt implements PooledHandler {
  readonly owner: AttemptOwner;
  readonly channel: Channel;
  readonly credential: UpstreamCredential;
  /** Whether this attempt holds a half-open probe slot of the channel's breaker. */
  readonly probe: boolean;
  readonly startedAt: number;
  readonly firstByteTimeoutMs: number;
  /** undici's controller for this request (abort, pause, resume), from onRequestStart. */
  controller: Dispatcher.DispatchController | null = null;
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
  /** Set when the owner gave up on this attempt before undici started it. */
  abandonReason: Error | null = null;
  /** The channel's client serving this attempt, until undici ends it (see UpstreamPool). */
  upstreamClient: Client | null = null;

  constructor(
    owner: AttemptOwner, channel: Channel, credential: UpstreamCredential, probe: boolean, firstByteTimeoutMs: number,
  ) {
    this.owner = owner;
    this.channel = channel;
    this.credential = credential;
    this.probe = probe;
    this.startedAt = performance.now();
    this.firstByteTimeoutMs = firstByteTimeoutMs;
    this.firstByteDeadline = this.startedAt + firstByteTimeoutMs;
  }

  clearDeadline(): void {
    this.firstByteDeadline = Infinity;
  }

  /** Aborts the upstream request now (or as soon as undici starts it). */
  abort(reason: Error): void {
    this.clearDeadline();
    const controller = this.controller;
    if (controller === null) {
      this.abandonReason = reason;
      return;
    }
    if (this.aborted) return;
    this.aborted = true;
    controller.abort(reason);
  }

  /** The client's socket is full: undici stops reading this response until resume(). */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.controller?.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    // Once the response is over, undici's parser may already serve another request on that socket: leave it be.
    if (this.controller !== null && this.phase !== DONE) this.controller.resume();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abandonReason !== null) {
      this.aborted = true;
      controller.abort(this.abandonReason);
    }
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (this.phase === DONE) return;
    this.status = statusCode;
    const raw = controller.rawHeaders;
    const retryAfter = Array.isArray(raw) && (raw.length === 0 || typeof raw[0] !== 'string')
      ? this.scanRawHeaders(raw as Buffer[])
      : this.readHeaders(headers);
    if (isRetryableStatus(statusCode)) {
      this.phase = REJECTED;
      this.retryAfterMs = parseRetryAfter(retryAfter);
      this.rejectBody = [];
      return;
    }
    this.phase = ACCEPTED;
    this.owner.onAccepted(this);
  }

  /** The four headers the gateway uses, from undici's raw list (no string per header); returns retry-after. */
  private scanRawHeaders(rawHeaders: Buffer[]): string | null {
    let retryAfter: string | null = null;
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!;
      switch (name.length) {
        case 10: // request-id
          if (this.requestId === null && nameIs(name, 'request-id')) {
            this.requestId = rawHeaders[i + 1]!.toString('latin1');
          }
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
    return retryAfter;
  }

  /** The same four headers from undici's parsed object (a dispatcher that gives no raw list). */
  private readHeaders(headers: IncomingHttpHeaders): string | null {
    const id = headers['x-request-id'] ?? headers['request-id'];
    if (typeof id === 'string') this.requestId = id;
    const type = headers['content-type'];
    if (typeof type === 'string') this.contentType = type;
    const length = headers['content-length'];
    if (typeof length === 'string') this.contentLength = decimalOf(Buffer.from(length, 'latin1'));
    const retryAfter = headers['retry-after'];
    return typeof retryAfter === 'string' ? retryAfter : null;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.phase === DONE) return;
    if (this.phase === REJECTED) {
      if (this.rejectBytes < REJECT_BODY_MAX) {
        this.rejectBody!.push(chunk);
        this.rejectBytes += chunk.length;
      }
      return;
    }
    if (this.phase === ACCEPTED) {
      this.phase = FLOWING;
      this.clearDeadline();
      this.owner.onFirstByte(this);
    }
    this.owner.onData(this, chunk);
  }

  onResponseEnd(): void {
    this.releaseClient();
    if (this.phase === DONE) return;
    this.clearDeadline();
    if (this.phase === REJECTED) {
      this.phase = DONE;
      this.owner.onRejected(this);
      return;
    }
    if (this.phase === ACCEPTED) this.owner.onFirstByte(this);
    this.phase = DONE;
    this.owner.onEnd(this);
  }

  /** undici ended the request with an error (or the channel could not take it: no controller then). */
  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
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

  /** The attempt failed (from undici, or given up by the owner before undici started it). */
  fail(err: Error): void {
    if (this.phase === DONE) return;
    this.clearDeadline();
    const flowing = this.phase === FLOWING;
    this.phase = DONE;
    this.owner.onUpstreamError(this, err, flowing);
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

/** The first-byte deadline passed (called by the Watchdog's sweep). */
export function firstByteTimedOut(attempt: Attempt): void {
  attempt.firstByteDeadline = Infinity;
  if (attempt.phase === DONE || attempt.phase === FLOWING) return;
  const ms = attempt.firstByteTimeoutMs;
  const err = new UpstreamTimeoutError(`channel "${attempt.channel.name}" sent no first byte within ${ms} ms`);
  if (attempt.controller !== null) {
    attempt.abort(err);
    return;
  }
  // Not started yet (waiting for one of the channel's clients, or connecting): give up on it now. The pool drops it
  // from its queue, or undici aborts it the moment it starts.
  attempt.abandonReason = err;
  attempt.fail(err);
}
