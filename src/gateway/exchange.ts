import { setTimeout as delay } from 'node:timers/promises';
import type { Dialect } from '../dialects/types.js';
import { ClientClosedError, GatewayError, UpstreamTimeoutError } from '../errors.js';
import type { Slotted } from '../util/slot-list.js';
import { SLOW_MS } from '../util/test-hooks.js';
import { authenticate, quotaRefusal } from './auth.js';
import { BodyIntake, type BodyOwner } from './body-intake.js';
import type { BodyBudget } from './body-budget.js';
import type { BodyCodec } from './codec.js';
import { exchangeCrashed, guardStep } from './crash-guard.js';
import type { GatewayCore, LiveExchange } from './core.js';
import { Failover } from './failover.js';
import type { GatewayRequest, GatewayResponse, ResponseOwner } from './http-types.js';
import { Admission } from './limits/admission.js';
import { chooseSink } from './response/choose.js';
import { ClientWriter } from './response/client-writer.js';
import { KeepAlive } from './response/keep-alive.js';
import type { ResponseSink, SinkHost } from './response/sink.js';
import { TokenUsage } from './response/usage.js';
import { RequestPlan, type PlanOwner } from './plan.js';
import { upstreamSuffix, type Endpoint } from './routing/endpoints.js';
import { Attempt, firstByteTimedOut, type AttemptOwner } from './upstream/attempt.js';
import type { Channel } from './upstream/channel.js';
import { upstreamRequest, type UpstreamBody } from './upstream/request.js';
import { bookRow } from './usage-row.js';

/**
 * One client request through the gateway, as a state machine: auth and quota → body (BodyIntake) → parse and route
 * (RequestPlan) → attempts (Attempt, Failover) → the answer's sink (response/) → usage row. The parts own their
 * state and reach the exchange through small interfaces (BodyOwner, PlanOwner, AttemptOwner, SinkHost,
 * ResponseOwner). Every field is set in the constructor; callbacks come from module-level functions and prototype
 * methods, not per-request closures.
 */
export class Exchange implements BodyOwner, PlanOwner, AttemptOwner, SinkHost, ResponseOwner, LiveExchange, Slotted {
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
  /** The spend policy (budgets, prices): admits a routed request, settles it once booked. */
  readonly admission = new Admission();
  readonly plan: RequestPlan;
  user: string | null = null;
  attempt: Attempt | null = null;
  attempts = 0;
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
  /** `sseKeepAlive` for a streamed request, until the upstream's first byte; null: off. */
  keepAlive: KeepAlive | null = null;

  constructor(core: GatewayCore, req: GatewayRequest, res: GatewayResponse, endpoint: Endpoint, budget: BodyBudget) {
    this.core = core;
    this.codec = core.codec;
    this.req = req;
    this.res = res;
    this.endpoint = endpoint;
    this.startedAt = performance.now();
    this.ts = Date.now();
    this.intake = new BodyIntake(this, core, req, res, budget);
    this.writer = new ClientWriter(res, core);
    this.plan = new RequestPlan(this, core, req, endpoint);
  }

  /** The client's address for the request log: a trusted PROXY header's, else the socket's. */
  get clientAddress(): string | null {
    return this.req.origin ?? this.req.socket?.remoteAddress ?? null;
  }

  // ---- request side ----

  /** Client auth by API key, then the user's quota; returns false (after answering 401 / 429) when refused. */
  authenticate(): boolean {
    const user = authenticate(this.core, this.req.headers, this.admission);
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
    if (this.intake.start(declared) && !this.finished) {
      this.deadline = this.startedAt + this.intake.budget.timeoutMs;
      this.core.watchdog.arm();
    }
    this.intake.read();
  }

  /** Answers 200 with a body made here: GET /v1/models (no usage row), or a local token count (a row, no channel). */
  answerLocal(body: Buffer, countedBy: string | null = null): void {
    this.status = 200;
    this.writer.json(body, countedBy);
    if (countedBy !== null) return this.done(null);
    this.core.live.delete(this);
    this.finished = true;
  }

  /** BodyOwner: the whole body arrived. */
  onBody(): void {
    this.deadline = Infinity;
    this.core.bytesIn += this.intake.bytes;
    if (SLOW_MS > 0) {
      this.guard(this.slowStart());
      return;
    }
    try {
      this.plan.start(this.intake.body, this.intake.parts);
    } catch (err) {
      exchangeCrashed(this, err);
    }
  }

  /** Awaits an async step; anything it throws unexpectedly becomes a 500 (or an error event) for this request. */
  guard(step: Promise<void>): void {
    void guardStep(this, step);
  }

  private async slowStart(): Promise<void> {
    await delay(SLOW_MS);
    if (!this.clientGone) this.plan.start(this.intake.body, this.intake.parts);
  }

  /** PlanOwner: the whole request is counted from its arrival (the plan then asks the spend policy). */
  routed(): void {
    this.deadline = this.startedAt + this.core.config.requestTimeoutMs;
    this.core.watchdog.arm();
  }

  /** PlanOwner (AdmissionOwner): go upstream, or answer the refusal (at once, or once shared limits answered). */
  admitted(refusal: GatewayError | null): void {
    if (this.finished) return;
    try {
      if (refusal !== null) {
        this.fail(refusal);
        return;
      }
      const every = this.core.config.sseKeepAliveMs;
      if (every > 0 && this.plan.summary!.stream) {
        this.keepAlive = new KeepAlive(every, this.endpoint.family, this.startedAt);
      }
      this.next();
    } catch (err) {
      exchangeCrashed(this, err);
    }
  }

  /** Chooses a channel and starts an attempt there; or answers the failure. */
  private next(): void {
    if (this.finished) return;
    const config = this.core.config;
    if (this.timedOut) {
      this.fail(requestTimeoutError(config.requestTimeoutMs));
      return;
    }
    const now = Date.now();
    const channel = this.attempts > config.retries
      ? null
      : this.plan.channel(this.failover.tried, this.attempts === 0, now);
    if (channel === null) this.fail(this.failover.failAll(this.plan.summary!.model));
    else this.plan.dispatchOn(channel, now);
  }

  /** Starts one attempt on `channel` with the body in its dialect; `now` is the caller's Date.now(). */
  dispatch(channel: Channel, dialect: Dialect, body: UpstreamBody, now: number): void {
    const credential = channel.keys.next(now);
    if (credential === null) {
      // Its last usable key went away while a conversion ran: try the others.
      this.failover.tried.push(channel);
      this.next();
      return;
    }
    this.upstreamDialect = dialect;
    this.attempts++;
    const probe = channel.breaker.onDispatch();
    const attempt = new Attempt(this, channel, credential, probe, this.core.config.firstByteTimeoutMs);
    this.attempt = attempt;
    channel.dispatched(now);
    const req = this.req;
    const stream = this.plan.summary!.stream;
    const suffix = upstreamSuffix(dialect, this.plan.upstreamModel, stream);
    const url = this.endpoint.inUrl === null ? req.url : undefined;
    channel.pool.dispatch(upstreamRequest(channel, suffix, credential, req.headers, url, stream, body), attempt);
  }

  // ---- AttemptOwner ----

  onAccepted(a: Attempt): void {
    if (a !== this.attempt) return;
    this.sink = chooseSink(this, a, this.upstreamDialect!, this.plan.summary!.model, this.writer.opened);
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
    const key = this.plan.sessionKey;
    if (key !== null) this.core.affinity.set(key, channel.name, wall);
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
    this.failover.rejected(a, Date.now(), this.core.config.breaker.openMs);
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
    this.keepAlive?.stop();
    // No attempt follows a committed answer: the request body is not needed any more.
    this.releaseBody();
    this.status = this.attempt!.status;
    this.writer.head(this.attempt!, contentLength, contentType, sse, this.admission.headers(this.endpoint.family));
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
    // A keep-alive's opened stream cannot take a status any more: the error goes into it.
    if (this.committed || this.writer.opened) {
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
    const k = this.keepAlive;
    if (k !== null && now >= k.nextAt && !this.finished) {
      if (k.beat(this.writer, now, this.admission.headers(this.endpoint.family))) this.status = 200;
    }
  }

  /** requestTimeout: the whole exchange took too long. */
  private requestTimedOut(): void {
    this.timedOut = true;
    const err = requestTimeoutError(this.core.config.requestTimeoutMs);
    const a = this.attempt;
    if (a !== null) a.abort(err);
    else this.fail(err);
  }

  private releaseBody(): void {
    this.intake.release();
    this.plan.release();
  }

  /** Once per exchange: usage row out. */
  done(err: GatewayError | null): void {
    if (this.finished) return;
    this.finished = true;
    const core = this.core;
    core.live.delete(this);
    this.releaseBody();
    bookRow(this, this.plan.summary, core, err);
  }
}

/** Bookkeeping when an attempt stops, however it stops. */
function settle(a: Attempt): void {
  a.clearDeadline();
  a.channel.settled();
}

function requestTimeoutError(ms: number): UpstreamTimeoutError {
  return new UpstreamTimeoutError(`request did not complete within requestTimeout (${ms} ms)`);
}
