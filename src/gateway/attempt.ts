import type { Dispatcher } from 'undici';
import { UpstreamTimeoutError } from '../errors.js';
import type { Channel } from './channel.js';
import type { Exchange } from './exchange.js';
import type { UpstreamCredential } from './key-ring.js';

type Controller = Dispatcher.DispatchController;
type Headers = Record<string, string | string[] | undefined>;

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
 * One try of one request on one channel: an undici dispatch handler (new-style hooks) with a first-byte timer.
 * Methods on the prototype, no closures; every field set in the constructor. The Exchange decides what happens.
 */
export class Attempt implements Dispatcher.DispatchHandler {
  readonly exchange: Exchange;
  readonly channel: Channel;
  readonly credential: UpstreamCredential;
  /** Whether this attempt holds a half-open probe slot of the channel's breaker. */
  readonly probe: boolean;
  readonly startedAt: number;
  controller: Controller | null = null;
  phase = WAITING;
  status = 0;
  headers: Headers | null = null;
  contentType = '';
  retryAfterMs: number | null = null;
  rejectBody: Buffer[] | null = null;
  rejectBytes = 0;
  timer: NodeJS.Timeout | null = null;
  /** Set when the exchange gave up on this attempt before undici handed out a controller. */
  abandonReason: Error | null = null;

  constructor(exchange: Exchange, channel: Channel, credential: UpstreamCredential, probe: boolean, firstByteTimeoutMs: number) {
    this.exchange = exchange;
    this.channel = channel;
    this.credential = credential;
    this.probe = probe;
    this.startedAt = performance.now();
    this.timer = setTimeout(firstByteTimedOut, firstByteTimeoutMs, this);
  }

  clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** Aborts the upstream request now (or as soon as undici starts it). */
  abort(reason: Error): void {
    this.clearTimer();
    if (this.controller !== null) {
      if (!this.controller.aborted) this.controller.abort(reason);
    } else this.abandonReason = reason;
  }

  pause(): void {
    this.controller?.pause();
  }

  resume(): void {
    this.controller?.resume();
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller;
    if (this.abandonReason !== null) controller.abort(this.abandonReason);
  }

  onResponseStart(_controller: Controller, statusCode: number, headers: Headers): void {
    if (this.phase === DONE) return;
    this.status = statusCode;
    this.headers = headers;
    const ct = headers['content-type'];
    this.contentType = typeof ct === 'string' ? ct : '';
    if (isRetryableStatus(statusCode)) {
      this.phase = REJECTED;
      this.retryAfterMs = parseRetryAfter(headers['retry-after']);
      this.rejectBody = [];
      return;
    }
    this.phase = ACCEPTED;
    this.exchange.onAccepted(this);
  }

  onResponseData(_controller: Controller, chunk: Buffer): void {
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
      this.clearTimer();
      this.exchange.onFirstByte(this);
    }
    this.exchange.onData(this, chunk);
  }

  onResponseEnd(): void {
    if (this.phase === DONE) return;
    this.clearTimer();
    if (this.phase === REJECTED) {
      this.phase = DONE;
      this.exchange.onRejected(this);
      return;
    }
    if (this.phase === ACCEPTED) this.exchange.onFirstByte(this);
    this.phase = DONE;
    this.exchange.onEnd(this);
  }

  onResponseError(_controller: Controller, err: Error): void {
    if (this.phase === DONE) return;
    this.clearTimer();
    const flowing = this.phase === FLOWING;
    this.phase = DONE;
    this.exchange.onUpstreamError(this, err, flowing);
  }

  /** The rejected attempt's body, for the final error message. */
  rejectText(): string {
    if (this.rejectBody === null || this.rejectBody.length === 0) return '';
    return Buffer.concat(this.rejectBody).toString('utf8', 0, REJECT_BODY_MAX).replace(/\s+/g, ' ').trim();
  }
}

/** Timer callback (module level: no closure per attempt). */
function firstByteTimedOut(attempt: Attempt): void {
  attempt.timer = null;
  if (attempt.phase === DONE || attempt.phase === FLOWING) return;
  const err = new UpstreamTimeoutError(`channel "${attempt.channel.name}" sent no first byte within ${attempt.exchange.core.config.firstByteTimeoutMs} ms`);
  if (attempt.controller !== null) {
    attempt.controller.abort(err);
    return;
  }
  // Still queued inside undici: give up on it now; it is aborted the moment it starts.
  attempt.abandonReason = err;
  attempt.onResponseError(null as unknown as Controller, err);
}

/** Retry-After as seconds or an HTTP date → ms, or null. */
export function parseRetryAfter(value: string | string[] | undefined): number | null {
  if (value === undefined) return null;
  const v = Array.isArray(value) ? value[0]! : value;
  const seconds = Number(v);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(v);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - Date.now());
}
