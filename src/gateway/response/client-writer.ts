import type { GatewayError } from '../../errors.js';
import { onResponseDrain, type GatewayResponse } from '../http-types.js';
import type { Family } from '../routing/endpoints.js';
import { errorBody, errorEvent } from './error-body.js';

/** The service's counters a response adds to (the GatewayCore). */
export interface WriteCounters {
  bytesOut: number;
  failed: number;
}

/** The upstream answer whose status and headers go out (the Attempt). */
export interface AnswerHead {
  readonly status: number;
  readonly requestId: string | null;
  readonly channel: { readonly name: string };
  /** The client's socket is full: stop reading the upstream until resume(). */
  pause(): void;
}

/**
 * The client side of one exchange: the status line and headers, writes with backpressure (a full socket pauses the
 * upstream until the module-level `drain` listener resumes it), the bytes counted, and the error answers.
 */
export class ClientWriter {
  readonly res: GatewayResponse;
  readonly counters: WriteCounters;
  /** A `drain` listener is on the response (added the first time a write fills the socket). */
  drainListening = false;
  /** Answer body bytes sent to the client (this exchange). */
  bytes = 0;
  /** A keep-alive opened the event stream before any upstream answered: its status and headers are out. */
  opened = false;

  constructor(res: GatewayResponse, counters: WriteCounters) {
    this.res = res;
    this.counters = counters;
  }

  /** Opens a 200 event stream before any upstream answered (sseKeepAlive); `extra`: the spend policy's headers. */
  open(extra: string[] | null): void {
    this.opened = true;
    const headers = ['content-type', 'text/event-stream; charset=utf-8', 'cache-control', 'no-cache'];
    if (extra !== null) for (let i = 0; i < extra.length; i++) headers.push(extra[i]!);
    this.res.writeHead(200, headers);
  }

  /** Sends the status line and headers (one flat list: no per-header bookkeeping in node:http). */
  head(a: AnswerHead, contentLength: number, contentType: string, sse: boolean, extra: string[] | null): void {
    // An opened stream's headers are out: the upstream's answer only continues it.
    if (this.opened) return;
    const headers = ['content-type', contentType || 'application/json', 'x-tidegate-channel', a.channel.name];
    if (extra !== null) for (let i = 0; i < extra.length; i++) headers.push(extra[i]!);
    if (contentLength >= 0) headers.push('content-length', String(contentLength));
    else if (sse) headers.push('cache-control', 'no-cache');
    if (a.requestId !== null) headers.push('x-request-id', a.requestId);
    this.res.writeHead(a.status, headers);
  }

  write(data: Buffer | string, upstream: AnswerHead | null): void {
    this.counters.bytesOut += data.length;
    this.bytes += data.length;
    if (this.res.write(data)) return;
    upstream?.pause();
    if (!this.drainListening) {
      this.drainListening = true;
      this.res.on('drain', onResponseDrain);
    }
  }

  end(last: Buffer | null): void {
    if (last === null) {
      this.res.end();
      return;
    }
    this.counters.bytesOut += last.length;
    this.bytes += last.length;
    this.res.end(last);
  }

  /** A 200 JSON answer made by the gateway itself (no upstream). */
  /** A 200 JSON answer made here; `countedBy` names a local token count's method in its header. */
  json(body: Buffer, countedBy: string | null): void {
    const res = this.res;
    res.setHeader('content-type', 'application/json');
    if (countedBy !== null) res.setHeader('x-tidegate-count-method', countedBy);
    res.setHeader('content-length', body.length);
    res.writeHead(200);
    res.end(body);
  }

  /** An error answer before anything was sent, in the endpoint's dialect. */
  error(family: Family, err: GatewayError): void {
    this.counters.failed++;
    const body = errorBody(family, err);
    const res = this.res;
    res.setHeader('content-type', 'application/json');
    res.setHeader('content-length', Buffer.byteLength(body));
    if (err.retryAfterSeconds !== null) res.setHeader('retry-after', String(err.retryAfterSeconds));
    const extra = err.headers;
    if (extra !== null) for (let i = 0; i < extra.length; i += 2) res.setHeader(extra[i]!, extra[i + 1]!);
    res.writeHead(err.status);
    res.end(body);
  }

  /**
   * After the first byte (or once a keep-alive opened the stream): an event stream ends with an error event in the
   * client's dialect; a JSON body cannot carry one, so it is cut.
   */
  broken(family: Family, err: GatewayError, sse: boolean, upstream: AnswerHead | null): void {
    this.counters.failed++;
    if (sse || this.opened) {
      this.write(errorEvent(family, err), upstream);
      this.res.end();
    } else this.res.destroy();
  }
}
