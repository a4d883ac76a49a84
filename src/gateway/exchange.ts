import type { IncomingHttpHeaders } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { ChatDialect, Dialect, RequestSummary } from '../dialects/types.js';
import {
  AllChannelsFailedError, BodyBudgetError, BodyTimeoutError, BodyTooLargeError, ClientClosedError, GatewayAuthError,
  QuotaExceededError, GatewayError, GatewayInternalError, NoChannelError, UpstreamRateLimitedError, UpstreamStreamError,
  UpstreamTimeoutError,
} from '../errors.js';
import { Attempt, firstByteTimedOut } from './attempt.js';
import { pickChannel } from './balancer.js';
import type { BodyBudget } from './body-budget.js';
import type { Channel } from './channel.js';
import { toGatewayError } from './codec.js';
import type { GatewayCore } from './core.js';
import { familyOf, upstreamDialect, upstreamSuffix, type Endpoint } from './endpoints.js';
import { convertErrorBody, errorBody, errorEvent } from './error-body.js';
import type { GatewayRequest, GatewayResponse } from './http-types.js';
import { DISCARD_MAX_BYTES, lingerOnClose } from './linger.js';
import type { Route } from './router.js';
import { AnthropicToOpenAIStream, OpenAIToAnthropicStream, readUsageFromEvent, type StreamConverter } from './sse-convert.js';
import { parseSseEvent, SseSplitter, type SseEvent, type SseEventSink } from './sse-splitter.js';
import { mentionsUsage, readUsage, TokenUsage } from './usage.js';
import type { Slotted } from '../util/slot-list.js';

/** Read once at module load: delays every gateway request, so the perf gate can prove it catches a slow build. */
const SLOW_MS = Math.max(0, Number(process.env.TIDEGATE_SLOW_MS ?? 0) || 0);

/** How the response body travels to the client. */
const PASS_JSON = 0; // as is, chunk by chunk; usage read from the tail
const PASS_SSE = 1; // as is, chunk by chunk; usage read from the events that mention it
const CONVERT_SSE = 2; // event by event through a StreamConverter
const CONVERT_JSON = 3; // whole (non-streamed) body converted by the codec, then sent
const ERROR_BODY = 4; // an error status passed on: its body collected (bounded), secrets redacted, then sent

/** A passed-on error body is kept this far; the rest is dropped (error bodies are small). */
const ERROR_BODY_MAX = 64 * 1024;

/** A usage tail smaller than this is looked for in the previous chunk too. */
const TAIL_BYTES = 4096;
const ANTHROPIC_VERSION = '2023-06-01';
const OAUTH_BETA = 'oauth-2025-04-20';
const STREAM_OPTIONS = Buffer.from(',"stream_options":{"include_usage":true}}');

/**
 * One client request through the gateway: body, auth, parse, route, attempts with failover, response streaming,
 * usage row. Every field is set in the constructor (one hidden class); callbacks come from module-level functions
 * and the Attempt's prototype methods, not per-request closures.
 */
export class Exchange implements SseEventSink, Slotted {
  /** Index in the core's live list. */
  slot = -1;
  readonly core: GatewayCore;
  readonly req: GatewayRequest;
  readonly res: GatewayResponse;
  readonly endpoint: Endpoint;
  readonly startedAt: number;
  readonly ts: number;
  user: string | null = null;
  /** The process-wide body budget this exchange's body is charged to. */
  readonly budget: BodyBudget;
  /** Bytes of the budget this exchange holds; given back once, in done(). */
  charged = 0;
  /** The body has no declared length: it is charged chunk by chunk. */
  chargeChunks = false;
  /** The whole body arrived. */
  bodyArrived = false;
  /** Body bytes read and thrown away after the exchange answered early. */
  discarded = 0;
  /** The body's declared length, or -1 (chunked). */
  declared = -1;
  chunks: Buffer[] = [];
  bodyBytes = 0;
  body: Buffer | null = null;
  summary: RequestSummary | null = null;
  sessionKey: string | null = null;
  route: Route | null = null;
  readonly tried: Channel[] = [];
  attempt: Attempt | null = null;
  attempts = 0;
  /** The request body in the other chat dialect, converted once and reused by later attempts. */
  convertedBody: Buffer | null = null;
  convertedFor: Dialect | null = null;
  upstreamDialect: Dialect | null = null;
  mode = PASS_JSON;
  /** Headers (and maybe bytes) went to the client: no more failover. */
  committed = false;
  finished = false;
  clientGone = false;
  lastError: GatewayError | null = null;
  rateLimitedOnly = true;
  minRetryAfterMs = Infinity;
  ttfbMs: number | null = null;
  status = 0;
  readonly usage = new TokenUsage();
  splitter: SseSplitter | null = null;
  converter: StreamConverter | null = null;
  /** Reused by every parsed SSE event of this exchange (streamed answers only). */
  event: SseEvent | null = null;
  /** The events being passed through include an upstream error event (PASS_SSE). */
  sseError = false;
  /** A `drain` listener is on the response (added the first time a write fills the socket). */
  drainListening = false;
  tailPrev: Buffer | null = null;
  tailLast: Buffer | null = null;
  /** Body bytes of a passed-through JSON answer received so far. */
  passedBytes = 0;
  /** The last chunk of a JSON answer of known length: sent with `end()`, so the response goes out in one call. */
  heldLast: Buffer | null = null;
  collected: Buffer[] | null = null;
  /** performance.now() by which the whole exchange must be done (requestTimeout); checked by the Watchdog. */
  deadline = Infinity;
  /** requestTimeout fired: no further attempts. */
  timedOut = false;
  channelName: string | null = null;

  constructor(core: GatewayCore, req: GatewayRequest, res: GatewayResponse, endpoint: Endpoint, budget: BodyBudget) {
    this.core = core;
    this.budget = budget;
    this.req = req;
    this.res = res;
    this.endpoint = endpoint;
    this.startedAt = performance.now();
    this.ts = Date.now();
  }

  // ---- request side ----

  /** Client auth by API key, then the user's quota; returns false (after answering 401 / 429) when refused. */
  authenticate(): boolean {
    const core = this.core;
    if (core.keys === null) {
      this.user = core.defaultUser;
      return this.withinQuota();
    }
    const key = clientKey(this.req.headers);
    const user = key === null ? undefined : core.userForKey(key);
    if (user === undefined) {
      this.fail(new GatewayAuthError(key === null
        ? 'missing API key: send "Authorization: Bearer <key>" or "x-api-key: <key>"'
        : 'unknown API key'));
      return false;
    }
    this.user = user;
    return this.withinQuota();
  }

  private withinQuota(): boolean {
    const refusal = this.core.accounting.check(this.user);
    if (refusal === null) return true;
    this.core.accounting.refused(this.user, this.core.serviceName);
    this.fail(new QuotaExceededError(
      refusal.reason === 'quota_expired'
        ? `user "${refusal.user}" is past its quota expiry`
        : refusal.reason === 'user_disabled'
          ? `user "${refusal.user}" is disabled`
          : `user "${refusal.user}" has used its quota for this period`,
      refusal.reason,
    ));
    return false;
  }

  /**
   * Takes the request body: refuses it at once when its declared length is over maxBodyBytes (413) or over what is
   * left of the body budget (503), else charges it and arms the body deadline. The body is read either way: a refused
   * one is discarded (bounded) so the client can read the answer. `declared` is NaN for a chunked body.
   */
  readBody(declared: number): void {
    const req = this.req;
    req.bodyReader = this;
    const config = this.core.config;
    if (declared > config.maxBodyBytes) this.refuseBody(new BodyTooLargeError(config.maxBodyBytes, declared));
    else if (!(declared >= 0)) this.chargeChunks = true;
    else if (this.budget.charge(declared)) {
      this.charged = declared;
      this.declared = declared;
    }
    else this.refuseBody(this.budgetError());
    if (!this.finished) {
      this.deadline = this.startedAt + this.budget.timeoutMs;
      this.core.watchdog.arm();
    }
    // read(0) starts the stream's reading as any consumer does, so node:http knows the body is taken and does not
    // drain it again after the response.
    req.read(0);
  }

  /** A chunk of the request body, straight from node:http's parser (GatewayRequest.push). */
  onBodyChunk(chunk: Buffer): void {
    if (this.finished) {
      // Answered early: read and drop, up to a bound (see linger.ts).
      this.discarded += chunk.length;
      if (this.discarded > DISCARD_MAX_BYTES) this.req.socket.destroy();
      return;
    }
    const n = chunk.length;
    this.bodyBytes += n;
    const max = this.core.config.maxBodyBytes;
    if (this.bodyBytes > max) {
      this.refuseBody(new BodyTooLargeError(max, this.bodyBytes));
      return;
    }
    if (this.chargeChunks) {
      if (!this.budget.charge(n)) {
        this.refuseBody(this.budgetError());
        return;
      }
      this.charged += n;
    }
    if (this.declared > 0 && n !== this.declared) {
      // A body in several reads is copied into one buffer of its declared size as it comes, instead of keeping every
      // read buffer until the end (then concatenating): the same bytes copied, and a single large allocation the
      // allocator gives back to the system when it is freed, where thousands of held read buffers fragment its heap.
      let body = this.body;
      if (body === null) body = this.body = Buffer.allocUnsafeSlow(this.declared);
      chunk.copy(body, this.bodyBytes - n);
      return;
    }
    this.chunks.push(chunk);
  }

  private budgetError(): BodyBudgetError {
    const err = new BodyBudgetError(`request bodies in flight hold the gateway's whole body budget (${this.budget.limit} bytes); retry later`);
    err.retryAfterSeconds = this.budget.retryAfterSeconds();
    return err;
  }

  /**
   * Answers before the body was read (413, 503, 408): the connection closes after the answer, lingering so that a
   * client still writing its body reads the answer instead of a reset.
   */
  private refuseBody(err: GatewayError): void {
    this.res.setHeader('connection', 'close');
    lingerOnClose(this.req.socket);
    this.fail(err);
  }

  /** The body did not arrive within bodyTimeout (the Watchdog's sweep). */
  bodyTimedOut(): void {
    this.deadline = Infinity;
    if (this.finished) return;
    this.budget.timedOut++;
    this.refuseBody(new BodyTimeoutError(`request body did not arrive within bodyTimeout (${this.budget.timeoutMs} ms); got ${this.bodyBytes} bytes`));
  }

  /** The whole request body arrived. */
  onBodyEnd(): void {
    if (this.finished) return;
    this.bodyArrived = true;
    this.deadline = Infinity;
    // One concat (none for a single chunk).
    if (this.body === null) this.body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.bodyBytes);
    this.chunks = [];
    this.core.bytesIn += this.bodyBytes;
    if (SLOW_MS > 0) {
      void this.guard(this.slowStart());
      return;
    }
    try {
      this.start();
    } catch (err) {
      exchangeCrashed(this, err);
    }
  }

  /** Awaits an async step; anything it throws unexpectedly becomes a 500 (or an error event) for this request. */
  private async guard(step: Promise<void>): Promise<void> {
    try {
      await step;
    } catch (err) {
      exchangeCrashed(this, err);
    }
  }

  private async slowStart(): Promise<void> {
    await delay(SLOW_MS);
    if (!this.clientGone) this.start();
  }

  /** Parses the body: inline (no promise) below the pool's offload threshold, in the pool above it. */
  private start(): void {
    const codec = this.core.codec;
    const field = this.core.config.affinity.bodyField;
    let summary: RequestSummary | null;
    try {
      summary = codec.parseInline(this.endpoint.dialect!, this.body!, field);
    } catch (err) {
      this.fail(toGatewayError(err));
      return;
    }
    if (summary !== null) this.routeRequest(summary);
    else void this.guard(this.parseInPool());
  }

  private async parseInPool(): Promise<void> {
    let summary: RequestSummary;
    try {
      summary = await this.core.codec.parse(this.endpoint.dialect!, this.body!, this.core.config.affinity.bodyField);
    } catch (err) {
      this.fail(toGatewayError(err));
      return;
    }
    if (!this.clientGone) this.routeRequest(summary);
  }

  private routeRequest(summary: RequestSummary): void {
    const core = this.core;
    const config = core.config;
    this.summary = summary;
    const header = this.req.headers[config.affinity.header];
    this.sessionKey = typeof header === 'string' && header.length > 0 ? header : summary.sessionId;
    const route = core.router.route(this.endpoint, summary.model, this.req.headers);
    this.route = route;
    if (route.channels.length === 0) {
      this.fail(new NoChannelError(`no channel serves model "${summary.model}" on ${this.endpoint.path}`));
      return;
    }
    // The whole request, counted from its arrival.
    this.deadline = this.startedAt + config.requestTimeoutMs;
    core.watchdog.arm();
    this.next();
  }

  /** Chooses a channel (affinity first, then the route's strategy) and starts an attempt; or answers the failure. */
  private next(): void {
    if (this.finished) return;
    const core = this.core;
    const route = this.route!;
    const now = Date.now();
    let channel: Channel | null = null;
    if (this.timedOut) {
      this.fail(new UpstreamTimeoutError(`request did not complete within requestTimeout (${core.config.requestTimeoutMs} ms)`));
      return;
    }
    if (this.attempts > core.config.retries) {
      this.failAll();
      return;
    }
    const key = this.sessionKey;
    if (key !== null && this.attempts === 0) {
      const name = core.affinity.get(key, now);
      if (name !== null) {
        const c = core.channels.get(name);
        // Follow it only when that channel still exists, is in this route and can take requests now.
        if (c !== undefined && route.channels.includes(c) && c.available(now)) channel = c;
        else core.affinity.drop(key);
      }
    }
    if (channel === null) channel = pickChannel(route, now, this.tried);
    if (channel === null) {
      this.failAll();
      return;
    }
    const dialect = upstreamDialect(channel.kind, this.endpoint.dialect!);
    if (dialect === this.endpoint.dialect) {
      this.dispatch(channel, dialect, this.body!, now);
      return;
    }
    if (this.convertedFor === dialect) {
      this.dispatch(channel, dialect, this.convertedBody!, now);
      return;
    }
    let converted: Buffer | null;
    try {
      converted = core.codec.convertInline(this.endpoint.dialect as ChatDialect, dialect as ChatDialect, this.body!);
    } catch (err) {
      this.fail(toGatewayError(err));
      return;
    }
    if (converted !== null) this.dispatchConverted(channel, dialect, converted);
    else void this.guard(this.convertInPool(channel, dialect));
  }

  private async convertInPool(channel: Channel, dialect: Dialect): Promise<void> {
    let converted: Buffer;
    try {
      converted = await this.core.codec.convertRequest(this.endpoint.dialect as ChatDialect, dialect as ChatDialect, this.body!);
    } catch (err) {
      this.fail(toGatewayError(err));
      return;
    }
    if (!this.clientGone) this.dispatchConverted(channel, dialect, converted);
  }

  private dispatchConverted(channel: Channel, dialect: Dialect, converted: Buffer): void {
    if (dialect === 'openai-chat' && this.summary!.stream && converted.indexOf('"stream_options"') === -1) {
      // Ask for the final usage chunk: the converter turns it into Anthropic's message_delta usage.
      converted = withStreamOptions(converted);
    }
    this.convertedBody = converted;
    this.convertedFor = dialect;
    this.dispatch(channel, dialect, converted, Date.now());
  }

  /** Starts one attempt on `channel` with the body in its dialect; `now` is the caller's Date.now(). */
  private dispatch(channel: Channel, dialect: Dialect, body: Buffer, now: number): void {
    const core = this.core;
    const credential = channel.keys.next(now);
    if (credential === null) {
      // Its last usable key went away while a conversion ran: try the others.
      this.tried.push(channel);
      this.next();
      return;
    }
    this.upstreamDialect = dialect;
    this.attempts++;
    const probe = channel.breaker.onDispatch();
    const attempt = new Attempt(this, channel, credential, probe, core.config.firstByteTimeoutMs);
    this.attempt = attempt;
    channel.inFlight++;
    channel.requests++;
    channel.pool.dispatch(
      {
        path: channel.basePath + upstreamSuffix(dialect) + queryOf(this.req.url),
        method: 'POST',
        headers: upstreamHeaders(channel, credential, this.req.headers, this.summary!.stream),
        body,
      },
      attempt,
    );
  }

  // ---- attempt callbacks ----

  /** A status to pass on arrived; pick how the body will travel. */
  onAccepted(a: Attempt): void {
    if (a !== this.attempt) return;
    if (a.status >= 400) {
      // Upstream error text may quote the key it was sent: it is redacted before the client sees it.
      this.mode = ERROR_BODY;
      this.collected = [];
      return;
    }
    const sse = a.contentType.includes('text/event-stream');
    const convert = this.upstreamDialect !== this.endpoint.dialect;
    if (!convert) this.mode = sse ? PASS_SSE : PASS_JSON;
    else this.mode = sse ? CONVERT_SSE : CONVERT_JSON;
    if (this.mode === PASS_SSE || this.mode === CONVERT_SSE) {
      this.splitter = new SseSplitter();
      this.event = { event: '', data: '' };
    }
    if (this.mode === CONVERT_SSE) {
      const model = this.summary!.model;
      this.converter = this.endpoint.family === 'openai' ? new AnthropicToOpenAIStream(model) : new OpenAIToAnthropicStream(model);
    }
    if (this.mode === CONVERT_JSON) this.collected = [];
  }

  /** The first body byte (or an empty body's end): the channel answered; the response is ours to send. */
  onFirstByte(a: Attempt): void {
    if (a !== this.attempt) return;
    const now = performance.now();
    const ttfb = now - a.startedAt;
    this.ttfbMs = now - this.startedAt;
    // Wall-clock ms for the breaker and affinity, from the request's own clock readings (no third clock call).
    const wall = this.ts + Math.round(this.ttfbMs);
    const channel = a.channel;
    channel.recordLatency(ttfb);
    channel.breaker.onSuccess(wall, a.probe);
    if (this.sessionKey !== null) this.core.affinity.set(this.sessionKey, channel.name, wall);
    this.channelName = channel.name;
    if (this.mode !== CONVERT_JSON && this.mode !== ERROR_BODY) this.commit(a, this.mode === PASS_JSON ? a.contentLength : -1);
  }

  /** Sends the status line and headers (one flat list: no per-header bookkeeping in node:http). */
  private commit(a: Attempt, contentLength: number, contentType: string = a.contentType): void {
    this.committed = true;
    // No attempt follows a committed answer: the request body is not needed any more.
    this.releaseBody();
    this.status = a.status;
    const headers = [
      'content-type', this.mode === CONVERT_SSE ? 'text/event-stream; charset=utf-8' : contentType || 'application/json',
      'x-tidegate-channel', a.channel.name,
    ];
    if (contentLength >= 0) headers.push('content-length', String(contentLength));
    else if (this.mode === PASS_SSE || this.mode === CONVERT_SSE) headers.push('cache-control', 'no-cache');
    if (a.requestId !== null) headers.push('x-request-id', a.requestId);
    this.res.writeHead(a.status, headers);
  }

  onData(a: Attempt, chunk: Buffer): void {
    if (a !== this.attempt || this.clientGone) return;
    switch (this.mode) {
      case PASS_JSON:
        this.tailPrev = this.tailLast;
        this.tailLast = chunk;
        this.passedBytes += chunk.length;
        // The body's last bytes: undici's onComplete follows in the same parse, and end(chunk) writes them with
        // the headers in one go (write() then end() costs a cork, a tick and a second pass through node:http).
        if (this.passedBytes === a.contentLength) this.heldLast = chunk;
        else this.write(a, chunk);
        return;
      case PASS_SSE: {
        // Whole events only, each looked at before it goes out: an upstream error event is redacted.
        const events = this.splitter!.feed(chunk, this);
        if (events.length > 0) this.passEvents(a, events);
        return;
      }
      case CONVERT_SSE:
        this.splitter!.feed(chunk, this);
        return;
      case CONVERT_JSON:
        this.collected!.push(chunk);
        return;
      case ERROR_BODY:
        if (this.passedBytes < ERROR_BODY_MAX) this.collected!.push(chunk);
        this.passedBytes += chunk.length;
        return;
    }
  }

  /** Writes to the client with backpressure: a full socket pauses the upstream until `drain`. */
  private write(a: Attempt, data: Buffer | string): void {
    this.core.bytesOut += data.length;
    if (this.res.write(data)) return;
    a.pause();
    if (!this.drainListening) {
      this.drainListening = true;
      this.res.on('drain', onResponseDrain);
    }
  }

  /** Passed-through SSE events to the client; redacted when one of them was an upstream error event. */
  private passEvents(a: Attempt, events: Buffer): void {
    if (!this.sseError) {
      this.write(a, events);
      return;
    }
    this.sseError = false;
    this.write(a, a.redact(events.toString('utf8')));
  }

  /** SseEventSink: one complete upstream event. */
  onSseEvent(buf: Buffer, start: number, end: number): void {
    if (this.mode === PASS_SSE) {
      if (isErrorEvent(buf, start, end)) this.sseError = true;
      if (mentionsUsage(buf, start, end)) readUsageFromEvent(parseSseEvent(buf, start, end, this.event!), this.usage);
      return;
    }
    const converter = this.converter!;
    let out = converter.onEvent(parseSseEvent(buf, start, end, this.event!), this.usage);
    const a = this.attempt;
    if (out.length === 0 || a === null) return;
    // The upstream's in-stream error event is quoted: without the channel's secrets.
    if (converter.failed) out = a.redact(out);
    this.write(a, out);
  }

  /** Client socket drained: let the upstream flow again. */
  onDrain(): void {
    this.attempt?.resume();
  }

  onEnd(a: Attempt): void {
    if (a !== this.attempt) return;
    this.settle(a);
    switch (this.mode) {
      case PASS_JSON: {
        const last = this.tailLast;
        if (last !== null) {
          const tail = last.length >= TAIL_BYTES || this.tailPrev === null
            ? last
            : Buffer.concat([this.tailPrev.subarray(Math.max(0, this.tailPrev.length - TAIL_BYTES)), last]);
          readUsage(tail, this.usage);
        }
        this.tailPrev = this.tailLast = null;
        const held = this.heldLast;
        if (held !== null) {
          this.heldLast = null;
          this.core.bytesOut += held.length;
          this.res.end(held);
        } else this.res.end();
        this.done(null);
        return;
      }
      case PASS_SSE: {
        const last = this.splitter!.end(this);
        if (last.length > 0) this.passEvents(a, last);
        this.res.end();
        this.done(null);
        return;
      }
      case CONVERT_SSE: {
        this.splitter!.end(this);
        const tail = this.converter!.end(this.usage);
        if (tail === null) {
          this.streamFailed(a, new UpstreamStreamError(`channel "${a.channel.name}" ended its stream before the final event`));
          return;
        }
        if (tail.length > 0) this.write(a, tail);
        this.res.end();
        this.done(this.converter!.failed ? new UpstreamStreamError('upstream sent an error event') : null);
        return;
      }
      case CONVERT_JSON:
        void this.guard(this.finishConverted(a));
        return;
      case ERROR_BODY:
        this.finishErrorBody(a);
        return;
    }
  }

  /** An upstream error passed on: redacted, in the endpoint's dialect when the channel speaks another one. */
  private finishErrorBody(a: Attempt): void {
    const body = Buffer.concat(this.collected!);
    this.collected = null;
    const text = a.redact(body.toString('utf8', 0, Math.min(body.length, ERROR_BODY_MAX)));
    const from = familyOf(this.upstreamDialect!);
    const converted = from !== this.endpoint.family;
    const out = Buffer.from(converted ? convertErrorBody(from, this.endpoint.family, Buffer.from(text), a.status) : text);
    this.commit(a, out.length, converted ? 'application/json' : a.contentType);
    this.core.bytesOut += out.length;
    this.res.end(out);
    this.done(null);
  }

  private async finishConverted(a: Attempt): Promise<void> {
    const upstream = this.collected!.length === 1 ? this.collected![0]! : Buffer.concat(this.collected!);
    this.collected = null;
    let out: Buffer;
    try {
      out = await this.core.codec.convertResponse(this.upstreamDialect as ChatDialect, this.endpoint.dialect as ChatDialect, upstream);
    } catch (err) {
      // Error statuses never come here (ERROR_BODY): a 2xx/3xx body that does not convert is the upstream's fault.
      this.fail(new UpstreamStreamError(`channel "${a.channel.name}" sent a response that cannot be converted: ${(err as Error).message}`));
      return;
    }
    if (this.clientGone) return;
    readUsage(upstream, this.usage);
    this.commit(a, out.length);
    this.core.bytesOut += out.length;
    this.res.end(out);
    this.done(null);
  }

  /** A retryable status (429, 5xx, 401/403, 408) was read to its end: fail over. */
  onRejected(a: Attempt): void {
    if (a !== this.attempt) return;
    this.settle(a);
    const channel = a.channel;
    const now = Date.now();
    // Auth refusals are not quoted: their text can describe the upstream key.
    const detail = a.status === 401 || a.status === 403 ? '' : a.rejectText();
    const why = `channel "${channel.name}" answered ${a.status}${detail ? `: ${detail.slice(0, 300)}` : ''}`;
    if (a.status === 401 || a.status === 403) {
      // The credential was refused, not the channel: skip the key for a while; the channel stays eligible.
      channel.keys.refuse(a.credential, now, this.core.config.breaker.openMs, `${a.status}`);
      channel.breaker.onAbandon(a.probe);
      this.rateLimitedOnly = false;
      this.lastError = new AllChannelsFailedError(why);
    } else {
      this.tried.push(channel);
      channel.failures++;
      channel.breaker.onFailure(now, a.probe, `HTTP ${a.status}`, a.status === 429 ? a.retryAfterMs : null);
      if (a.status === 429) {
        const e = new UpstreamRateLimitedError(why);
        if (a.retryAfterMs !== null) this.minRetryAfterMs = Math.min(this.minRetryAfterMs, a.retryAfterMs);
        this.lastError = e;
      } else {
        this.rateLimitedOnly = false;
        this.lastError = new AllChannelsFailedError(why);
      }
    }
    this.retry();
  }

  /** The upstream failed (connection error, reset, timeout, abort). */
  onUpstreamError(a: Attempt, err: Error, flowing: boolean): void {
    if (a !== this.attempt) return;
    this.settle(a);
    const channel = a.channel;
    if (this.clientGone) {
      channel.breaker.onAbandon(a.probe);
      return;
    }
    const timeout = err instanceof UpstreamTimeoutError;
    const reason = timeout ? err.message : `channel "${channel.name}" failed: ${(err as { code?: string }).code ?? err.message}`;
    channel.failures++;
    channel.breaker.onFailure(Date.now(), a.probe, timeout ? 'timeout' : (err as { code?: string }).code ?? err.message, null);
    if (this.committed || (flowing && this.mode !== CONVERT_JSON && this.mode !== ERROR_BODY)) {
      this.streamFailed(a, timeout ? new UpstreamTimeoutError(reason) : new UpstreamStreamError(reason));
      return;
    }
    this.tried.push(channel);
    this.rateLimitedOnly = false;
    this.lastError = timeout ? new UpstreamTimeoutError(reason) : new AllChannelsFailedError(reason);
    this.retry();
  }

  private retry(): void {
    this.attempt = null;
    this.collected = null;
    try {
      this.next();
    } catch (err) {
      exchangeCrashed(this, err);
    }
  }

  /** Bookkeeping when an attempt stops, however it stops. */
  private settle(a: Attempt): void {
    a.clearDeadline();
    a.channel.inFlight--;
  }

  /** The client went away: abort the upstream at once. */
  onClientClose(): void {
    if (this.finished) return;
    this.clientGone = true;
    const a = this.attempt;
    if (a !== null) a.abort(new ClientClosedError('client closed the connection'));
    this.status = 499;
    this.done(new ClientClosedError('client closed the connection'));
  }

  /** After the first byte: end the response with an error in the endpoint's dialect, never a clean end. */
  private streamFailed(a: Attempt, err: GatewayError): void {
    this.core.failed++;
    if (this.mode === PASS_SSE || this.mode === CONVERT_SSE) {
      this.write(a, errorEvent(this.endpoint.family, err));
      this.res.end();
    } else {
      // A JSON body cannot carry an error after it started: cut the connection so the client sees a failure.
      this.res.destroy();
    }
    this.done(err);
  }

  // ---- answers ----

  /** Every attempt failed (or no channel could take one). */
  private failAll(): void {
    const last = this.lastError;
    if (last === null) {
      this.fail(new AllChannelsFailedError(`every channel for model "${this.summary!.model}" is down or open-circuit`));
      return;
    }
    if (last instanceof UpstreamRateLimitedError && this.rateLimitedOnly) {
      if (this.minRetryAfterMs !== Infinity) last.retryAfterSeconds = Math.max(1, Math.ceil(this.minRetryAfterMs / 1000));
      this.fail(last);
      return;
    }
    if (last instanceof UpstreamTimeoutError) {
      this.fail(last);
      return;
    }
    this.fail(last instanceof AllChannelsFailedError ? last : new AllChannelsFailedError(last.message));
  }

  /** Answers an error before anything was sent. */
  fail(err: GatewayError): void {
    if (this.finished || this.clientGone) return;
    if (this.committed) {
      this.streamFailed(this.attempt!, err);
      return;
    }
    this.core.failed++;
    const body = errorBody(this.endpoint.family, err);
    const res = this.res;
    this.status = err.status;
    res.setHeader('content-type', 'application/json');
    res.setHeader('content-length', Buffer.byteLength(body));
    if (err.retryAfterSeconds !== null) res.setHeader('retry-after', String(err.retryAfterSeconds));
    res.writeHead(err.status);
    res.end(body);
    this.done(err);
  }

  /** Called by the Watchdog's sweep: the request or the current attempt's first-byte deadline may have passed. */
  checkDeadlines(now: number): void {
    if (this.finished) return;
    if (now >= this.deadline) {
      if (this.bodyArrived) requestTimedOut(this);
      else this.bodyTimedOut();
      return;
    }
    const a = this.attempt;
    if (a !== null && now >= a.firstByteDeadline) firstByteTimedOut(a);
  }

  /** Gives the body's charge back to the budget (once) and lets go of the body (a body still arriving is discarded). */
  private releaseBody(): void {
    if (this.charged !== 0) {
      this.budget.release(this.charged);
      this.charged = 0;
    }
    this.chunks = [];
    this.body = null;
    this.convertedBody = null;
  }

  /** Once per exchange: usage row out. */
  private done(err: GatewayError | null): void {
    if (this.finished) return;
    this.finished = true;
    const core = this.core;
    core.live.delete(this);
    this.releaseBody();
    this.collected = null;
    this.usage.finish();
    const u = this.usage;
    core.record({
      ts: this.ts,
      service: core.serviceName,
      user: this.user,
      channel: this.channelName ?? this.attempt?.channel.name ?? null,
      endpoint: this.endpoint.path,
      model: this.summary?.model ?? null,
      stream: this.summary?.stream ?? false,
      status: this.status,
      promptTokens: u.prompt,
      completionTokens: u.completion,
      totalTokens: u.total,
      latencyMs: performance.now() - this.startedAt,
      ttfbMs: this.ttfbMs,
      attempts: this.attempts,
      error: err === null ? null : err.code,
    });
  }
}

/** How upstreams start an error event: `event: error` (Anthropic, OpenAI Responses), `data: {"error"` (OpenAI Chat). */
const ERROR_EVENT_STARTS = [Buffer.from('event: error'), Buffer.from('event:error'), Buffer.from('data: {"error"'), Buffer.from('data:{"error"')];

/** Whether the SSE event in buf[start, end) is an error event: a look at its first bytes, no scan. */
function isErrorEvent(buf: Buffer, start: number, end: number): boolean {
  for (let k = 0; k < ERROR_EVENT_STARTS.length; k++) {
    const p = ERROR_EVENT_STARTS[k]!;
    if (end - start < p.length) continue;
    let i = 0;
    while (i < p.length && buf[start + i] === p[i]) i++;
    if (i === p.length) return true;
  }
  return false;
}

/** The client's socket drained (module level: `this` is the response, no closure per request). */
function onResponseDrain(this: GatewayResponse): void {
  this.exchange?.onDrain();
}

function exchangeCrashed(exchange: Exchange, err: unknown): void {
  exchange.core.log.error({ err, service: exchange.core.serviceName }, 'gateway request failed unexpectedly');
  exchange.fail(err instanceof GatewayError ? err : new GatewayInternalError(err instanceof Error ? err.message : String(err)));
}

/** requestTimeout: the whole exchange took too long. */
function requestTimedOut(exchange: Exchange): void {
  exchange.deadline = Infinity;
  if (exchange.finished) return;
  exchange.timedOut = true;
  const err = new UpstreamTimeoutError(`request did not complete within requestTimeout (${exchange.core.config.requestTimeoutMs} ms)`);
  const a = exchange.attempt;
  if (a !== null) a.abort(err);
  else exchange.fail(err);
}

/** `Authorization: Bearer <key>` or `x-api-key: <key>`. */
function clientKey(headers: IncomingHttpHeaders): string | null {
  const auth = headers.authorization;
  if (typeof auth === 'string' && auth.length > 7 && (auth.startsWith('Bearer ') || auth.startsWith('bearer '))) return auth.slice(7).trim();
  const x = headers['x-api-key'];
  if (typeof x === 'string' && x.length > 0) return x;
  return null;
}

function queryOf(url: string | undefined): string {
  if (url === undefined) return '';
  const q = url.indexOf('?');
  return q === -1 ? '' : url.slice(q);
}

/** The upstream request's headers as one flat name/value list (undici takes it as is). */
function upstreamHeaders(channel: Channel, credential: Attempt['credential'], client: IncomingHttpHeaders, stream: boolean): string[] {
  const accept = stream ? 'text/event-stream' : 'application/json';
  if (channel.kind === 'openai') {
    return ['content-type', 'application/json', 'accept', accept, 'accept-encoding', 'identity', 'authorization', credential.bearer];
  }
  const version = typeof client['anthropic-version'] === 'string' ? client['anthropic-version'] : ANTHROPIC_VERSION;
  const beta = client['anthropic-beta'];
  const headers = ['content-type', 'application/json', 'accept', accept, 'accept-encoding', 'identity', 'anthropic-version', version];
  if (credential.oauth) headers.push('authorization', credential.bearer, 'anthropic-beta', typeof beta === 'string' ? `${beta},${OAUTH_BETA}` : OAUTH_BETA);
  else {
    headers.push('x-api-key', credential.secret);
    if (typeof beta === 'string') headers.push('anthropic-beta', beta);
  }
  return headers;
}

/** Adds `stream_options.include_usage` before the closing brace of a converted (compact, object) body. */
function withStreamOptions(body: Buffer): Buffer {
  let end = body.length - 1;
  while (end > 0 && body[end] !== 0x7d) end--;
  return Buffer.concat([body.subarray(0, end), STREAM_OPTIONS]);
}
