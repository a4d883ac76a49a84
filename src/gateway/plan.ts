import type { ParsedRequest } from '../dialects/offload.js';
import type { Dialect, JsonObject, RequestSummary } from '../dialects/types.js';
import type { ChannelKind } from '../config/schema.js';
import { NoChannelError, type GatewayError } from '../errors.js';
import { toGatewayError } from './codec.js';
import { RequestConversion } from './conversion.js';
import type { GatewayCore } from './core.js';
import type { GatewayRequest } from './http-types.js';
import { chooseChannel } from './routing/choose-channel.js';
import { rewriteModel } from './routing/model-rewrite.js';
import { modelInUrl, upstreamDialect, type Endpoint } from './routing/endpoints.js';
import type { Route } from './routing/router.js';
import type { Channel } from './upstream/channel.js';
import type { UpstreamBody } from './upstream/request.js';
import { partsLength, scratchCopy } from './body-parts.js';
import { LONG_BODY_INLINE_BYTES } from './codec.js';
import { ADMISSION_PENDING, type Admission, type AdmissionOwner } from './limits/admission.js';
import { streamAsksUsage, withUsageAsked } from './usage-request.js';

/** Who a plan reports to (the Exchange). */
export interface PlanOwner extends AdmissionOwner {
  readonly clientGone: boolean;
  fail(err: GatewayError): void;
  guard(step: Promise<void>): void;
  /** The request has a route: from now on the request deadline counts (admission, then attempts). */
  routed(): void;
  /** The spend policy of the exchange, asked once the request is routed; it answers through `admitted`. */
  readonly admission: Admission;
  readonly user: string | null;
  /** Answers a body made here (a local token count, its method named). */
  answerLocal(body: Buffer, countedBy: string): void;
  /** Starts an attempt on `channel` with the body in `dialect`; `now` is the caller's Date.now(). */
  dispatch(channel: Channel, dialect: Dialect, body: UpstreamBody, now: number): void;
}

/**
 * Where a request goes: its body parsed for routing (inline below the pool's offload threshold, in the pool above
 * it), its route and session key; then, per attempt, a channel (the session's first, then the route's strategy)
 * and the body in that channel's dialect.
 */
export class RequestPlan {
  readonly owner: PlanOwner;
  readonly core: GatewayCore;
  readonly req: GatewayRequest;
  readonly endpoint: Endpoint;
  /** The client's body in one buffer; null while it is only in `parts` (made by bytes() when needed). */
  body: Buffer | null = null;
  /**
   * A large body as node:http read it, passed through as is (no copy); null when the body is in `body` only. Kept
   * while its routing was read inline (the scratch copy); a body that needs one buffer anyway drops it.
   */
  parts: Buffer[] | null = null;
  /**
   * The body as parsed for routing when that ran inline, until the first attempt is dispatched (synchronously):
   * its conversion reuses it instead of parsing again.
   */
  root: JsonObject | null = null;
  summary: RequestSummary | null = null;
  sessionKey: string | null = null;
  route: Route | null = null;
  /** The model name the current attempt's channel is sent (the client's unless a rule or modelMap rewrites it). */
  upstreamModel = '';
  /** The body in the other chat dialect, made when a channel needs it. */
  conversion: RequestConversion | null = null;
  /** The client's body asking for usage (an OpenAI stream), made once when a channel of its dialect needs it. */
  asked: Buffer | null = null;
  /** The gateway asked for usage the client did not: its usage-only final chunk is not passed on. */
  stripUsage = false;

  constructor(owner: PlanOwner, core: GatewayCore, req: GatewayRequest, endpoint: Endpoint) {
    this.owner = owner;
    this.core = core;
    this.req = req;
    this.endpoint = endpoint;
  }

  /**
   * Reads the routing fields (parsed inline below the offload threshold, else from the skeleton or in the pool).
   * The body is in `body`, or in `parts` (large, as read): then read here through a scratch copy when it is small
   * enough to be read inline, else put in one buffer for the pool.
   */
  start(body: Buffer | null, parts: Buffer[] | null): void {
    this.body = body;
    this.parts = parts;
    if (body === null) {
      const n = partsLength(parts!);
      if (n <= LONG_BODY_INLINE_BYTES) body = scratchCopy(parts!, n);
      else body = this.bytes();
    }
    const codec = this.core.codec;
    let summary: RequestSummary | null;
    const dialect = this.endpoint.dialect!;
    const field = this.core.config.affinity.bodyField;
    try {
      const root = codec.decodeInline(body);
      if (root !== null) {
        summary = codec.summarizeParsed(dialect, root, field);
        this.root = root;
      } else {
        // Large: mostly long strings and not too large is read from its skeleton here (no root: not for conversion).
        summary = codec.summarizeLongInline(dialect, body, field);
      }
    } catch (err) {
      this.owner.fail(toGatewayError(err));
      return;
    }
    if (summary === null) {
      this.owner.guard(this.parseInPool(this.bytes()));
      return;
    }
    this.routeRequest(summary);
    // The first attempt was dispatched in that call (unless admission waits: it then parses again); a parsed body
    // kept longer would only be promoted by the GC.
    this.root = null;
  }

  private async parseInPool(body: Buffer): Promise<void> {
    let parsed: ParsedRequest;
    try {
      parsed = await this.core.codec.parseLarge(this.endpoint.dialect!, body, this.core.config.affinity.bodyField);
    } catch (err) {
      this.owner.fail(toGatewayError(err));
      return;
    }
    if (this.owner.clientGone || this.body === null) return;
    // The body went to the worker by transfer: these are its bytes, moved back.
    this.body = parsed.body;
    this.routeRequest(parsed);
  }

  private routeRequest(parsed: RequestSummary): void {
    const core = this.core;
    const summary = this.endpoint.inUrl === null ? parsed : withUrlFields(parsed, this.endpoint, this.req.url ?? '');
    this.summary = summary;
    const header = this.req.headers[core.config.affinity.header];
    this.sessionKey = typeof header === 'string' && header.length > 0 ? header : summary.sessionId;
    const route = core.router.route(this.endpoint, summary.model, this.req.headers);
    this.route = route;
    if (route.channels.length === 0) {
      this.owner.fail(new NoChannelError(`no channel serves model "${summary.model}" on ${this.endpoint.path}`));
      return;
    }
    const owner = this.owner;
    owner.routed();
    const refusal = owner.admission.admit(core, this.endpoint.family, owner.user, summary, this, owner);
    if (refusal !== ADMISSION_PENDING) owner.admitted(refusal);
  }

  /** The channel for the next attempt (null: none left that can take it). */
  channel(tried: readonly Channel[], first: boolean, now: number): Channel | null {
    return chooseChannel(this.core, this.route!, this.sessionKey, first, tried, now);
  }

  /** Dispatches the attempt on `channel` once its body is in the channel's dialect (converted once, then kept). */
  dispatchOn(channel: Channel, now: number): void {
    const from = this.endpoint.dialect!;
    const dialect = upstreamDialect(channel.kind, channel.config.responses, from);
    if (countsLocally(dialect, channel.kind)) {
      this.owner.guard(this.countLocally());
      return;
    }
    const model = this.route!.model ?? this.summary!.model;
    this.upstreamModel = channel.config.modelMap[model] ?? model;
    if (dialect === from) {
      this.owner.dispatch(channel, dialect, this.withModel(this.passBody(dialect)), now);
      return;
    }
    const s = this.summary!;
    const inUrl = this.endpoint.inUrl === null ? null : { model: s.model, stream: s.stream };
    const conversion = this.conversion ??= new RequestConversion(this.core.codec, from, inUrl);
    let body: Buffer | null;
    try {
      body = conversion.inline(dialect, this.bytes(), this.summary!.stream, this.root);
      // Used once: the IR may share objects with it, and a later dialect parses the body again.
      this.root = null;
    } catch (err) {
      this.owner.fail(toGatewayError(err));
      return;
    }
    if (body !== null) this.owner.dispatch(channel, dialect, this.withModel(body), now);
    else this.owner.guard(this.convertInPool(conversion, channel, dialect));
  }

  private async convertInPool(conversion: RequestConversion, channel: Channel, dialect: Dialect): Promise<void> {
    let body: Buffer;
    try {
      body = await conversion.pooled(dialect, this.bytes(), this.summary!.stream);
    } catch (err) {
      this.owner.fail(toGatewayError(err));
      return;
    }
    if (!this.owner.clientGone) this.owner.dispatch(channel, dialect, this.withModel(body), Date.now());
  }

  /** The body with the upstream model when it differs from the client's (Gemini bodies have none: it is in the URL). */
  private withModel(body: UpstreamBody): UpstreamBody {
    if (this.upstreamModel === this.summary!.model) return body;
    // Parts are the client's body as read.
    const bytes = Buffer.isBuffer(body) ? body : this.bytes();
    return rewriteModel(bytes, this.upstreamModel) ?? bytes;
  }

  /**
   * The client's body for a channel of its own dialect (its reads when it was kept so): OpenAI streams always ask
   * for usage (usage-request.ts).
   */
  private passBody(dialect: Dialect): UpstreamBody {
    if (!streamAsksUsage(dialect, this.summary!.stream)) return this.parts ?? this.body!;
    if (this.asked === null) {
      const bytes = this.bytes();
      const asked = withUsageAsked(bytes);
      this.stripUsage = asked !== null;
      this.asked = asked ?? bytes;
    }
    return this.asked;
  }

  /**
   * The client's body in one buffer, made from its parts the first time it is needed (a conversion, a rewrite, the
   * pool); the parts are then let go, so the body is held once.
   */
  bytes(): Buffer {
    let body = this.body;
    if (body === null) {
      const parts = this.parts!;
      body = this.body = Buffer.concat(parts, partsLength(parts));
      this.parts = null;
    }
    return body;
  }

  /** count_tokens on a channel that cannot count: counted here, with the model's tokenizer (in the pool). */
  private async countLocally(): Promise<void> {
    let count;
    try {
      const model = this.endpoint.inUrl === null ? null : this.summary!.model;
      count = await this.core.codec.countTokens(this.endpoint.dialect!, this.bytes(), model);
    } catch (err) {
      this.owner.fail(toGatewayError(err));
      return;
    }
    if (this.owner.clientGone) return;
    const n = count.inputTokens;
    const body = this.endpoint.family === 'gemini' ? `{"totalTokens":${n}}` : `{"input_tokens":${n}}`;
    this.owner.answerLocal(Buffer.from(body), count.method);
  }

  /** No attempt follows: let go of the body and its converted form. */
  release(): void {
    this.body = null;
    this.parts = null;
    this.root = null;
    this.asked = null;
    this.conversion?.release();
  }
}

/** A Gemini request's summary with the model and streaming its URL says. */
function withUrlFields(s: RequestSummary, endpoint: Endpoint, url: string): RequestSummary {
  return {
    model: modelInUrl(url), stream: endpoint.inUrl === 'stream', sessionId: s.sessionId, messageCount: s.messageCount,
    estimatedPromptTokens: s.estimatedPromptTokens,
  };
}

/** A token count the channel cannot answer itself (Anthropic channels count Anthropic bodies, Gemini Gemini's). */
function countsLocally(dialect: Dialect, kind: ChannelKind): boolean {
  return (dialect === 'anthropic-count-tokens' && kind !== 'anthropic')
    || (dialect === 'gemini-count-tokens' && kind !== 'gemini');
}
