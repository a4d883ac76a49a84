import { setTimeout as delay } from 'node:timers/promises';
import type { Dialect, RequestSummary } from '../dialects/types.js';
import { ClientClosedError, GatewayError, GatewayInternalError, NoChannelError, UpstreamTimeoutError } from '../errors.js';
import type { Slotted } from '../util/slot-list.js';
import { SLOW_MS } from '../util/test-hooks.js';
import { authenticate, quotaRefusal } from './auth.js';
import { BodyIntake, type BodyOwner } from './body-intake.js';
import type { BodyBudget } from './body-budget.js';
import { toGatewayError, type BodyCodec } from './codec.js';
import { RequestConversion } from './conversion.js';
import type { GatewayCore, LiveExchange } from './core.js';
import { Failover } from './failover.js';
import type { GatewayRequest, GatewayResponse, ResponseOwner } from './http-types.js';
import { chooseSink } from './response/choose.js';
import { ClientWriter } from './response/client-writer.js';
import type { ResponseSink, SinkHost } from './response/sink.js';
import { TokenUsage } from './response/usage.js';
import { chooseChannel } from './routing/choose-channel.js';
import { upstreamDialect, upstreamSuffix, type Endpoint } from './routing/endpoints.js';
import type { Route } from './routing/router.js';
import { Attempt, firstByteTimedOut, type AttemptOwner } from './upstream/attempt.js';
import type { Channel } from './upstream/channel.js';
import { upstreamRequest } from './upstream/request.js';
import { usageRow } from './usage-row.js';

/**
 * One client request through the gateway, as a state machine: body (BodyIntake) → auth and quota → parse → route →
 * attempts (Attempt, Failover) → the answer's sink (response/) → usage row. The parts own their state and reach the
 * exchange through small interfaces (BodyOwner, AttemptOwner, SinkHost, ResponseOwner). Every field is set in the
 * constructor; callbacks come from module-level functions and prototype methods, not per-request closures.
 */
export class Exchange implements BodyOwner, AttemptOwner, SinkHost, ResponseOwner, LiveExchange, Slotted {
  /** Index in the core's live list. */
  slot = -1;
  readonly core: GatewayCore;
  readonly codec: BodyCodec;
  readonly req: GatewayRequest;
  readonly res: GatewayResponse;
  readonly endpoint: Endpoint;
  readonly startedAt: number;
  readonly ts: number;
  readonly intake: BodyIntake;
  readonly writer: ClientWriter;
  readonly failover = new Failover();
  readonly usage = new TokenUsage();
  user: string | null = null;
  summary: RequestSummary | null = null;
  sessionKey: string | null = null;
  route: Route | null = null;
  attempt: Attempt | null = null;
  attempts = 0;
  /** The body in the other chat dialect, made when a channel needs it. */
  conversion: RequestConversion | null = null;
  upstreamDialect: Dialect | null = null;
  /** How the current answer's body travels to the client; chosen when its headers arrive. */
  sink: ResponseSink | null = null;
  /** Headers (and maybe bytes) went to the client: no more failover. */
  committed = false;
  finished = false;
  clientGone = false;
  ttfbMs: number | null = null;
  status = 0;
  /** performance.now() by which the body (bodyTimeout), then the whole exchange (requestTimeout) must be done. */
  deadline = Infinity;
  /** requestTimeout fired: no further attempts. */
  timedOut = false;
  channelName: string | null = null;

  constructor(core: GatewayCore, req: GatewayRequest, res: GatewayResponse, endpoint: Endpoint, budget: BodyBudget) {
    this.core = core;
    this.codec = core.codec;
    this.req = req;
    this.res = res;
    this.endpoint = endpoint;
    this.startedAt = performance.now();
    this.ts = Date.now();
    this.intake = new BodyIntake(this, req, res, budget);
    this.writer = new ClientWriter(res, core);
  }

  get config(): GatewayCore['config'] {
    return this.core.config;
  }

  // ---- request side ----

  /** Client auth by API key, then the user's quota; returns false (after answering 401 / 429) when refused. */
  authenticate(): boolean {
    const user = authenticate(this.core, this.req.headers);
    if (user instanceof GatewayError) {
      this.fail(user);
      return false;
    }
    this.user = user;
    const refusal = quotaRefusal(this.core, user);
    if (refusal !== null) this.fail(refusal);
    return refusal === null;
  }

  /** Takes the body (`declared` is NaN when chunked) and arms the body deadline unless it was refused at once. */
  readBody(declared: number): void {
    if (!this.intake.start(declared) || this.finished) return;
    this.deadline = this.startedAt + this.intake.budget.timeoutMs;
    this.core.watchdog.arm();
  }

  /** Answers 200 with a body made here (GET /v1/models): no upstream, no usage row. */
  answerLocal(body: Buffer): void {
    const res = this.res;
    res.setHeader('content-type', 'application/json');
    res.setHeader('content-length', body.length);
    res.writeHead(200);
    res.end(body);
    this.core.live.delete(this);
    this.finished = true;
  }

  /** BodyOwner: the whole body arrived. */
  onBody(): void {
    this.deadline = Infinity;
    this.core.bytesIn += this.intake.bytes;
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
  async guard(step: Promise<void>): Promise<void> {
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
    let summary: RequestSummary | null;
    try {
      summary = this.codec.parseInline(this.endpoint.dialect!, this.intake.body!, this.config.affinity.bodyField);
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
      summary = await this.codec.parse(this.endpoint.dialect!, this.intake.body!, this.config.affinity.bodyField);
    } catch (err) {
      this.fail(toGatewayError(err));
      return;
    }
    if (!this.clientGone) this.routeRequest(summary);
  }

  private routeRequest(summary: RequestSummary): void {
    const core = this.core;
    this.summary = summary;
    const header = this.req.headers[core.config.affinity.header];
    this.sessionKey = typeof header === 'string' && header.length > 0 ? header : summary.sessionId;
    const route = core.router.route(this.endpoint, summary.model, this.req.headers);
    this.route = route;
    if (route.channels.length === 0) {
      this.fail(new NoChannelError(`no channel serves model "${summary.model}" on ${this.endpoint.path}`));
      return;
    }
    // The whole request, counted from its arrival.
    this.deadline = this.startedAt + core.config.requestTimeoutMs;
    core.watchdog.arm();
    this.next();
  }

  /** Chooses a channel and starts an attempt with the body in its dialect; or answers the failure. */
  private next(): void {
    if (this.finished) return;
    const config = this.config;
    if (this.timedOut) {
      this.fail(new UpstreamTimeoutError(`request did not complete within requestTimeout (${config.requestTimeoutMs} ms)`));
      return;
    }
    const now = Date.now();
    const channel = this.attempts > config.retries
      ? null
      : chooseChannel(this.core, this.route!, this.sessionKey, this.attempts === 0, this.failover.tried, now);
    if (channel === null) {
      this.fail(this.failover.failAll(this.summary!.model));
      return;
    }
    const from = this.endpoint.dialect!;
    const dialect = upstreamDialect(channel.kind, from);
    if (dialect === from) {
      this.dispatch(channel, dialect, this.intake.body!, now);
      return;
    }
    const conversion = this.conversion ??= new RequestConversion(this.codec, from);
    let body: Buffer | null;
    try {
      body = conversion.inline(dialect, this.intake.body!, this.summary!.stream);
    } catch (err) {
      this.fail(toGatewayError(err));
      return;
    }
    if (body !== null) this.dispatch(channel, dialect, body, now);
    else void this.guard(this.convertInPool(conversion, channel, dialect));
  }

  private async convertInPool(conversion: RequestConversion, channel: Channel, dialect: Dialect): Promise<void> {
    let body: Buffer;
    try {
      body = await conversion.pooled(dialect, this.intake.body!, this.summary!.stream);
    } catch (err) {
      this.fail(toGatewayError(err));
      return;
    }
    if (!this.clientGone) this.dispatch(channel, dialect, body, Date.now());
  }

  /** Starts one attempt on `channel` with the body in its dialect; `now` is the caller's Date.now(). */
  private dispatch(channel: Channel, dialect: Dialect, body: Buffer, now: number): void {
    const credential = channel.keys.next(now);
    if (credential === null) {
      // Its last usable key went away while a conversion ran: try the others.
      this.failover.tried.push(channel);
      this.next();
      return;
    }
    this.upstreamDialect = dialect;
    this.attempts++;
    const attempt = new Attempt(this, channel, credential, channel.breaker.onDispatch(), this.config.firstByteTimeoutMs);
    this.attempt = attempt;
    channel.inFlight++;
    channel.requests++;
    const req = this.req;
    channel.pool.dispatch(
      upstreamRequest(channel, upstreamSuffix(dialect), credential, req.headers, req.url, this.summary!.stream, body),
      attempt,
    );
  }

  // ---- AttemptOwner ----

  onAccepted(a: Attempt): void {
    if (a === this.attempt) this.sink = chooseSink(this, a, this.upstreamDialect!, this.summary!.model);
  }

  /** The first body byte (or an empty body's end): the channel answered; the response is ours to send. */
  onFirstByte(a: Attempt): void {
    if (a !== this.attempt) return;
    const now = performance.now();
    this.ttfbMs = now - this.startedAt;
    // Wall-clock ms for the breaker and affinity, from the request's own clock readings (no third clock call).
    const wall = this.ts + Math.round(this.ttfbMs);
    const channel = a.channel;
    channel.recordLatency(now - a.startedAt);
    channel.breaker.onSuccess(wall, a.probe);
    if (this.sessionKey !== null) this.core.affinity.set(this.sessionKey, channel.name, wall);
    this.channelName = channel.name;
    this.sink!.onFirstByte();
  }

  onData(a: Attempt, chunk: Buffer): void {
    if (a === this.attempt && !this.clientGone) this.sink!.onData(chunk);
  }

  onEnd(a: Attempt): void {
    if (a !== this.attempt) return;
    settle(a);
    this.sink!.onEnd();
  }

  onRejected(a: Attempt): void {
    if (a !== this.attempt) return;
    settle(a);
    this.failover.rejected(a, Date.now(), this.config.breaker.openMs);
    this.retry();
  }

  onUpstreamError(a: Attempt, err: Error, flowing: boolean): void {
    if (a !== this.attempt) return;
    settle(a);
    if (this.clientGone) {
      a.channel.breaker.onAbandon(a.probe);
      return;
    }
    const sink = this.sink;
    const streamError = this.failover.failed(a, err, this.committed || (flowing && sink !== null && sink.streams));
    if (streamError !== null) this.streamFailed(streamError);
    else this.retry();
  }

  private retry(): void {
    this.attempt = null;
    this.sink = null;
    try {
      this.next();
    } catch (err) {
      exchangeCrashed(this, err);
    }
  }

  // ---- SinkHost ----

  commit(contentLength: number, contentType: string, sse: boolean): void {
    this.committed = true;
    // No attempt follows a committed answer: the request body is not needed any more.
    this.releaseBody();
    this.status = this.attempt!.status;
    this.writer.head(this.attempt!, contentLength, contentType, sse);
  }

  write(data: Buffer | string): void {
    this.writer.write(data, this.attempt);
  }

  end(last: Buffer | null): void {
    this.writer.end(last);
  }

  streamFailed(err: GatewayError): void {
    this.writer.broken(this.endpoint.family, err, this.sink !== null && this.sink.sse, this.attempt);
    this.done(err);
  }

  fail(err: GatewayError): void {
    if (this.finished || this.clientGone) return;
    if (this.committed) {
      this.streamFailed(err);
      return;
    }
    this.status = err.status;
    this.writer.error(this.endpoint.family, err);
    this.done(err);
  }

  // ---- ResponseOwner, Watched ----

  /** Client socket drained: let the upstream flow again. */
  onDrain(): void {
    this.attempt?.resume();
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

  checkDeadlines(now: number): void {
    if (this.finished) return;
    if (now >= this.deadline) {
      this.deadline = Infinity;
      if (this.intake.arrived) this.requestTimedOut();
      else this.intake.timedOut();
      return;
    }
    const a = this.attempt;
    if (a !== null && now >= a.firstByteDeadline) firstByteTimedOut(a);
  }

  /** requestTimeout: the whole exchange took too long. */
  private requestTimedOut(): void {
    this.timedOut = true;
    const err = new UpstreamTimeoutError(`request did not complete within requestTimeout (${this.config.requestTimeoutMs} ms)`);
    const a = this.attempt;
    if (a !== null) a.abort(err);
    else this.fail(err);
  }

  private releaseBody(): void {
    this.intake.release();
    this.conversion?.release();
  }

  /** Once per exchange: usage row out. */
  done(err: GatewayError | null): void {
    if (this.finished) return;
    this.finished = true;
    const core = this.core;
    core.live.delete(this);
    this.releaseBody();
    this.usage.finish();
    core.record(usageRow(this, core.serviceName, err));
  }
}

/** Bookkeeping when an attempt stops, however it stops. */
function settle(a: Attempt): void {
  a.clearDeadline();
  a.channel.inFlight--;
}

function exchangeCrashed(exchange: Exchange, err: unknown): void {
  exchange.core.log.error({ err, service: exchange.core.serviceName }, 'gateway request failed unexpectedly');
  exchange.fail(err instanceof GatewayError ? err : new GatewayInternalError(err instanceof Error ? err.message : String(err)));
}
