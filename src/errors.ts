/**
 * Every error tidegate raises, each with a stable `TG_ERR_*` code.
 * Messages say what was expected and what came. Subsystems add their classes here, never elsewhere: a class declares
 * `static readonly code`, its instances carry it, and it joins `ERROR_CLASSES` at the end of this file.
 * Code that branches on an error uses its class, its code or a field (`reason`), never its message.
 */

export abstract class TidegateError extends Error {
  /** The class's `static code`, copied so that an instance carries it as its own field (logs, JSON, `assert`). */
  readonly code: string;
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.code = (new.target as unknown as ErrorClass).code;
  }
  override get name(): string {
    return this.constructor.name;
  }
  toJSON(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** One problem in a config document, located by its path (`services[2].listen`). */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/** The whole config was validated and these are all of its problems. */
export class ConfigError extends TidegateError {
  static readonly code = 'TG_ERR_CONFIG';
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[], source?: string) {
    const head = source ? `invalid config ${source}` : 'invalid config';
    super(`${head}:\n${issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`);
    this.issues = issues;
  }
}

export function formatIssue(issue: ConfigIssue): string {
  return issue.path ? `${issue.path}: ${issue.message}` : issue.message;
}

/** A config file could not be read or parsed as YAML/JSON. */
export class ConfigReadError extends TidegateError {
  static readonly code = 'TG_ERR_CONFIG_READ';
}

/** Bad command-line usage. */
export class UsageError extends TidegateError {
  static readonly code = 'TG_ERR_USAGE';
}

/** A listener could not bind its address (port in use, permission, bad interface). */
export class ListenError extends TidegateError {
  static readonly code = 'TG_ERR_LISTEN';
  readonly service: string;
  readonly address: string;
  override readonly cause: Error;
  constructor(service: string, address: string, cause: NodeJS.ErrnoException) {
    super(`service "${service}" cannot listen on ${address}: ${cause.code ?? cause.message}`);
    this.service = service;
    this.address = address;
    this.cause = cause;
  }
}

/** Every target of a forward service failed to connect. */
export class UpstreamUnavailableError extends TidegateError {
  static readonly code = 'TG_ERR_UPSTREAM_UNAVAILABLE';
}

/** A connect attempt did not complete in time. */
export class ConnectTimeoutError extends TidegateError {
  static readonly code = 'TG_ERR_CONNECT_TIMEOUT';
}

/** A reload was requested while another one is still applying. */
export class ReloadBusyError extends TidegateError {
  static readonly code = 'TG_ERR_RELOAD_BUSY';
}

/** Admin API: missing or wrong bearer token. */
export class UnauthorizedError extends TidegateError {
  static readonly code = 'TG_ERR_UNAUTHORIZED';
}

/** The runtime is shutting down and refuses new work. */
export class ShuttingDownError extends TidegateError {
  static readonly code = 'TG_ERR_SHUTTING_DOWN';
}

// ---- worker pool, JSON bodies, GeoIP, credentials (pool subsystem) ----

/** The pool's bounded queue is full: the caller answers 503 with `Retry-After: retryAfterSeconds`. */
export class PoolQueueFullError extends TidegateError {
  static readonly code = 'TG_ERR_POOL_QUEUE_FULL';
  readonly retryAfterSeconds: number;
  constructor(maxQueue: number, retryAfterSeconds = 1) {
    super(`worker pool queue is full (${maxQueue} tasks waiting); retry after ${retryAfterSeconds}s`);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A pool task failed for a reason other than its input: the worker died or threw unexpectedly. */
export class PoolTaskError extends TidegateError {
  static readonly code = 'TG_ERR_POOL_TASK';
  readonly task: string;
  override readonly cause: unknown;
  constructor(task: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`worker pool task "${task}" failed: ${why}`);
    this.task = task;
    this.cause = cause;
  }
}

/** The pool was closed; no new tasks are accepted. */
export class PoolClosedError extends TidegateError {
  static readonly code = 'TG_ERR_POOL_CLOSED';
}

export type JsonBodyProblem = 'utf8' | 'syntax' | 'shape' | 'depth' | 'unsupported';

/**
 * A request or response body is not what its endpoint expects. `path` is a JSON path (`$.messages[2].role`),
 * `position` the byte offset for encoding and syntax problems (null for shape problems). The gateway answers 400.
 */
export class JsonBodyError extends TidegateError {
  static readonly code = 'TG_ERR_JSON_BODY';
  readonly problem: JsonBodyProblem;
  readonly path: string;
  readonly position: number | null;
  constructor(problem: JsonBodyProblem, path: string, position: number | null, message: string) {
    super(message);
    this.problem = problem;
    this.path = path;
    this.position = position;
  }
  override toJSON(): {
    code: string; message: string; problem: JsonBodyProblem; path: string; position: number | null;
  } {
    return { code: this.code, message: this.message, problem: this.problem, path: this.path, position: this.position };
  }
}

/** The GeoIP database or a range list is missing, unreadable or corrupt (raised by `ready()`, at start). */
export class GeoDatabaseError extends TidegateError {
  static readonly code = 'TG_ERR_GEO_DATABASE';
  readonly file: string;
  constructor(file: string, message: string) {
    super(`GeoIP database ${file}: ${message}`);
    this.file = file;
  }
}

/** A proxy rule-set file is missing, unreadable or has a line tidegate cannot use (the message names file and line). */
export class RuleSetError extends TidegateError {
  static readonly code = 'TG_ERR_RULE_SET';
  readonly file: string;
  constructor(file: string, message: string) {
    super(`rule set ${file}: ${message}`);
    this.file = file;
  }
}

/** A credentials directory cannot be scanned at all (missing, not a directory, unreadable). */
export class CredentialsDirError extends TidegateError {
  static readonly code = 'TG_ERR_CREDENTIALS_DIR';
  readonly dir: string;
  constructor(dir: string, message: string) {
    super(`credentials directory ${dir}: ${message}`);
    this.dir = dir;
  }
}

// ── proxy service ────────────────────────────────────────────────────────────────────────────────────────────

/**
 * Why a proxy handshake failed (a client's, or an upstream proxy's answer to ours): the proxy chooses its reply by
 * this, never by the message. `peer_closed` gets no reply (nobody is left to read it).
 */
export type ProxyHandshakeReason = 'peer_closed' | 'timeout' | 'too_large' | 'malformed' | 'unsupported' | 'no_method';

/** A client spoke neither SOCKS5 nor HTTP CONNECT correctly (or too slowly, or too much). */
export class ProxyHandshakeError extends TidegateError {
  static readonly code = 'TG_ERR_PROXY_HANDSHAKE';
  readonly reason: ProxyHandshakeReason;
  constructor(message: string, reason: ProxyHandshakeReason) {
    super(message);
    this.reason = reason;
  }
}

/** A SOCKS5 request tidegate will not serve; carries the SOCKS reply code to send before closing. */
export class SocksRefusal extends ProxyHandshakeError {
  readonly reply: number;
  constructor(message: string, reply: number, reason: ProxyHandshakeReason) {
    super(message, reason);
    this.reply = reply;
  }
}

/** A SOCKS5 greeting tidegate cannot accept: answered "no acceptable methods" (0xFF) and closed. */
export class SocksGreetingRefusal extends ProxyHandshakeError {}

/** An HTTP request tidegate will not serve; carries the status to answer with. */
export class HttpRefusal extends ProxyHandshakeError {
  readonly status: number;
  constructor(message: string, status: number, reason: ProxyHandshakeReason) {
    super(message, reason);
    this.status = status;
  }
}

/**
 * The upstream proxy refused or failed the CONNECT. `destinationRefused`: the upstream itself works and answered that
 * it cannot reach the destination (no reason to mark it down or try another).
 */
export class UpstreamProxyError extends TidegateError {
  static readonly code = 'TG_ERR_UPSTREAM_PROXY';
  readonly destinationRefused: boolean;
  constructor(message: string, destinationRefused = false) {
    super(message);
    this.destinationRefused = destinationRefused;
  }
}

/** A proxy destination is refused by the destination guard (loopback, link-local, tidegate's own listeners …). */
export class DestinationDeniedError extends TidegateError {
  static readonly code = 'TG_ERR_DESTINATION_DENIED';
}

/**
 * A proxy client with `auth: users` gave no credentials, unknown ones or a wrong password (HTTP 407 with
 * Proxy-Authenticate; SOCKS5 username/password status 0x01). `missing` says whether any were given.
 */
export class ProxyAuthError extends TidegateError {
  static readonly code = 'TG_ERR_PROXY_AUTH';
  readonly missing: boolean;
  constructor(message: string, missing: boolean) {
    super(message);
    this.missing = missing;
  }
}

/** A plain (absolute-URI) proxy request tidegate will not forward: a bad URI, a Host that disagrees, … (HTTP 400). */
export class ProxyRequestError extends TidegateError {
  static readonly code = 'TG_ERR_PROXY_REQUEST';
  readonly status: number;
  constructor(message: string, status = 400) {
    super(message);
    this.status = status;
  }
}

// ---- gateway (LLM API router) ----

/**
 * Base of every error the gateway answers a client with. `status` is the HTTP status; `type` is the error type in
 * the OpenAI/Anthropic error body. `retryAfterSeconds`, when set, becomes a Retry-After header.
 */
export abstract class GatewayError extends TidegateError {
  abstract readonly status: number;
  abstract readonly type: string;
  retryAfterSeconds: number | null = null;
  /** More answer headers (rate-limit state), as a flat name/value list; null: none. */
  headers: string[] | null = null;
}

/** No route for this method and path. */
export class RouteNotFoundError extends GatewayError {
  static readonly code = 'TG_ERR_ROUTE_NOT_FOUND';
  readonly status = 404;
  readonly type = 'not_found_error';
}

/** The path exists but not for this method. */
export class MethodNotAllowedError extends GatewayError {
  static readonly code = 'TG_ERR_METHOD_NOT_ALLOWED';
  readonly status = 405;
  readonly type = 'invalid_request_error';
}

/** Missing or unknown client API key. */
export class GatewayAuthError extends GatewayError {
  static readonly code = 'TG_ERR_GATEWAY_AUTH';
  readonly status = 401;
  readonly type = 'authentication_error';
}

/** The request body is larger than `maxBodyBytes`. */
export class BodyTooLargeError extends GatewayError {
  static readonly code = 'TG_ERR_BODY_TOO_LARGE';
  readonly status = 413;
  readonly type = 'request_too_large';
  readonly limit: number;
  constructor(limit: number, got: number) {
    super(`request body exceeds maxBodyBytes (${limit} bytes); got at least ${got} bytes`);
    this.limit = limit;
  }
}

/** Request bodies in flight hold the whole `gateway.bodyBudget`: 503 + Retry-After, before or while a body is read. */
export class BodyBudgetError extends GatewayError {
  static readonly code = 'TG_ERR_BODY_BUDGET';
  readonly status = 503;
  readonly type = 'overloaded_error';
}

/** The request body did not finish arriving within `gateway.bodyTimeout`: 408, and the connection closes. */
export class BodyTimeoutError extends GatewayError {
  static readonly code = 'TG_ERR_BODY_TIMEOUT';
  readonly status = 408;
  readonly type = 'timeout_error';
}

/** The request body is not a JSON request for this endpoint (syntax, encoding or shape). */
export class BadRequestBodyError extends GatewayError {
  static readonly code = 'TG_ERR_BAD_REQUEST_BODY';
  readonly status = 400;
  readonly type = 'invalid_request_error';
  readonly path: string;
  readonly position: number | null;
  constructor(message: string, path: string, position: number | null) {
    super(message);
    this.path = path;
    this.position = position;
  }
}

/** No configured channel serves this model on this endpoint. */
export class NoChannelError extends GatewayError {
  static readonly code = 'TG_ERR_NO_CHANNEL';
  readonly status = 404;
  readonly type = 'not_found_error';
}

/** Every eligible channel is down, open-circuit or failed this request. */
export class AllChannelsFailedError extends GatewayError {
  static readonly code = 'TG_ERR_ALL_CHANNELS_FAILED';
  readonly status = 502;
  readonly type = 'api_error';
}

/** The client's user is over its quota (or past its expiry): 429 with type `quota_exceeded` / `quota_expired`. */
export class QuotaExceededError extends GatewayError {
  static readonly code = 'TG_ERR_QUOTA_EXCEEDED';
  readonly status = 429;
  readonly type: string;
  constructor(message: string, reason: string) {
    super(message);
    this.type = reason;
  }
}

/** A user's rate limit (rpm, tpm, concurrent) has no room: 429 with Retry-After and the rate-limit headers. */
export class RateLimitedError extends GatewayError {
  static readonly code = 'TG_ERR_RATE_LIMITED';
  readonly status = 429;
  readonly type = 'rate_limit_error';
}

/** One client address sent more requests than the gateway's `perIp.rate` allows: 429 with Retry-After. */
export class AddressRateLimitedError extends GatewayError {
  static readonly code = 'TG_ERR_PER_IP_RATE';
  readonly status = 429;
  readonly type = 'rate_limit_error';
  constructor(rate: number) {
    super(`this client address is limited to ${rate} requests per second (perIp.rate)`);
    this.retryAfterSeconds = 1;
  }
}

/** `unpriced: refuse` and the request's model has no price: 403 before any upstream request. */
export class UnpricedModelError extends GatewayError {
  static readonly code = 'TG_ERR_UNPRICED_MODEL';
  readonly status = 403;
  readonly type = 'permission_error';
}

/** Every attempt was refused with 429 by the upstreams. */
export class UpstreamRateLimitedError extends GatewayError {
  static readonly code = 'TG_ERR_UPSTREAM_RATE_LIMITED';
  readonly status = 429;
  readonly type = 'rate_limit_error';
}

/** The upstream sent no first byte within `firstByteTimeout`, or the whole request exceeded `requestTimeout`. */
export class UpstreamTimeoutError extends GatewayError {
  static readonly code = 'TG_ERR_UPSTREAM_TIMEOUT';
  readonly status = 504;
  readonly type = 'timeout_error';
}

/** The upstream failed after the response had started (reset mid-body, bad stream). */
export class UpstreamStreamError extends GatewayError {
  static readonly code = 'TG_ERR_UPSTREAM_STREAM';
  readonly status = 502;
  readonly type = 'api_error';
}

/** The worker pool is saturated: 503 + Retry-After. */
export class GatewayBusyError extends GatewayError {
  static readonly code = 'TG_ERR_GATEWAY_BUSY';
  readonly status = 503;
  readonly type = 'overloaded_error';
}

/** Anything unexpected inside the gateway. */
export class GatewayInternalError extends GatewayError {
  static readonly code = 'TG_ERR_GATEWAY_INTERNAL';
  readonly status = 500;
  readonly type = 'api_error';
}

/** The client went away before its response was complete; the upstream request is aborted. Logged as 499. */
export class ClientClosedError extends GatewayError {
  static readonly code = 'TG_ERR_CLIENT_CLOSED';
  readonly status = 499;
  readonly type = 'client_closed';
}

// ── native relay (src/relay/native/) ──────────────────────────────────────────────────────────────────────────

/** A socket could not be handed over to the native relay (no fd: destroyed, not yet connected, or not a stream). */
export class RelayHandoverError extends TidegateError {
  static readonly code = 'TG_ERR_RELAY_HANDOVER';
}

/** A relay option or rate had an invalid value (negative, not a number, a limit of another engine). */
export class RelayOptionError extends TidegateError {
  static readonly code = 'TG_ERR_RELAY_OPTION';
}

// ── admin API (src/admin/) and the last-resort guard (src/guard/) ────────────────────────────────────────────

/** Base of every error the admin API answers with its own status (`{ error: { code, message } }`). */
export abstract class AdminError extends TidegateError {
  abstract readonly status: number;
}

/** Admin API: the request line, a header or the path (e.g. a malformed `%` escape) cannot be understood. */
export class AdminBadRequestError extends AdminError {
  static readonly code = 'TG_ERR_BAD_REQUEST';
  readonly status: 400 | 431;
  constructor(message: string, status: 400 | 431 = 400) {
    super(message);
    this.status = status;
  }
}

/** Admin API: no endpoint at this path, or no such user. */
export class AdminNotFoundError extends AdminError {
  static readonly code = 'TG_ERR_NOT_FOUND';
  readonly status = 404;
}

/** Admin API: the path exists but not for this method; `allow` becomes the Allow header. */
export class AdminMethodError extends AdminError {
  static readonly code = 'TG_ERR_METHOD';
  readonly status = 405;
  readonly allow: string;
  constructor(message: string, allow: string) {
    super(message);
    this.allow = allow;
  }
}

/** Admin API: a request body (the admin API reads none) larger than it drains. */
export class AdminBodyTooLargeError extends AdminError {
  static readonly code = 'TG_ERR_ADMIN_BODY_TOO_LARGE';
  readonly status = 413;
}

/** Admin API: the request's headers or body did not arrive in time. */
export class AdminRequestTimeoutError extends AdminError {
  static readonly code = 'TG_ERR_REQUEST_TIMEOUT';
  readonly status = 408;
}

/** Admin API: the bearer token is valid but its role (`read`) may not change anything. */
export class AdminForbiddenError extends AdminError {
  static readonly code = 'TG_ERR_FORBIDDEN';
  readonly status = 403;
}

/** Admin API: the change collides with what exists (a taken port, a name in use, an item owned by the file). */
export class AdminConflictError extends AdminError {
  static readonly code = 'TG_ERR_CONFLICT';
  readonly status = 409;
}

/** Admin API: `If-Match` names a version of the item that is no longer current. */
export class AdminPreconditionError extends AdminError {
  static readonly code = 'TG_ERR_PRECONDITION_FAILED';
  readonly status = 412;
}

/** Admin API: a request body that is not JSON, or JSON that is not an object. */
export class AdminBodyError extends AdminError {
  static readonly code = 'TG_ERR_BAD_BODY';
  readonly status = 400;
}

/** Admin API: a body that is JSON but not a valid item; every problem with its path, nothing changed. */
export class AdminInvalidError extends AdminError {
  static readonly code = 'TG_ERR_INVALID';
  readonly status = 422;
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(`invalid request:\n${issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`);
    this.issues = issues;
  }
}

/** A management CLI call the admin API answered with an error, or could not reach. */
export class AdminClientError extends TidegateError {
  static readonly code = 'TG_ERR_ADMIN_CLIENT';
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

/** A worker process failed to start, to apply a reload or to answer the primary (`workers` > 1). */
export class WorkerError extends TidegateError {
  static readonly code = 'TG_ERR_WORKER';
  /** The worker slot (1-based), or 0 for the fleet as a whole. */
  readonly worker: number;
  constructor(worker: number, message: string) {
    super(message);
    this.worker = worker;
  }
}

/** Anything unexpected: the reply says only this; the details go to the log. */
export class InternalError extends TidegateError {
  static readonly code = 'TG_ERR_INTERNAL';
}

/** A PROXY protocol header that is malformed, late, or from a source not trusted to send one. */
export class ProxyProtocolError extends TidegateError {
  static readonly code = 'TG_ERR_PROXY_PROTOCOL';
  /** For the refusal counter: `malformed`, `timeout` or `untrusted`. */
  readonly reason: 'malformed' | 'timeout' | 'untrusted';
  constructor(reason: 'malformed' | 'timeout' | 'untrusted', message: string) {
    super(message);
    this.reason = reason;
  }
}

/**
 * A fault injected by the test-only `TIDEGATE_TEST_FAULT_PATH` switch: a handler throws it to exercise graduated
 * recovery through the real code path. Never raised in production (the switch is unset).
 */
export class InjectedFaultError extends TidegateError {
  static readonly code = 'TG_ERR_INJECTED_FAULT';
}

// ── the registry ─────────────────────────────────────────────────────────────────────────────────────────────

/** A concrete error class: constructible, with its stable code. */
export interface ErrorClass {
  readonly code: string;
  readonly name: string;
  readonly prototype: TidegateError;
}

/** Every concrete error class above, in this file's order (a test checks that no exported class is missing). */
export const ERROR_CLASSES: readonly ErrorClass[] = Object.freeze([
  ConfigError,
  ConfigReadError,
  UsageError,
  ListenError,
  UpstreamUnavailableError,
  ConnectTimeoutError,
  ReloadBusyError,
  UnauthorizedError,
  ShuttingDownError,
  PoolQueueFullError,
  PoolTaskError,
  PoolClosedError,
  JsonBodyError,
  GeoDatabaseError,
  RuleSetError,
  CredentialsDirError,
  ProxyHandshakeError,
  SocksRefusal,
  SocksGreetingRefusal,
  HttpRefusal,
  UpstreamProxyError,
  DestinationDeniedError,
  ProxyAuthError,
  ProxyRequestError,
  RouteNotFoundError,
  MethodNotAllowedError,
  GatewayAuthError,
  BodyTooLargeError,
  BodyBudgetError,
  BodyTimeoutError,
  BadRequestBodyError,
  NoChannelError,
  AllChannelsFailedError,
  QuotaExceededError,
  UnpricedModelError,
  RateLimitedError,
  UpstreamRateLimitedError,
  UpstreamTimeoutError,
  UpstreamStreamError,
  GatewayBusyError,
  GatewayInternalError,
  ClientClosedError,
  RelayHandoverError,
  RelayOptionError,
  AdminBadRequestError,
  AdminNotFoundError,
  AdminMethodError,
  AdminBodyTooLargeError,
  AdminRequestTimeoutError,
  AdminForbiddenError,
  AdminConflictError,
  AdminPreconditionError,
  AdminBodyError,
  AdminInvalidError,
  AdminClientError,
  WorkerError,
  InternalError,
  ProxyProtocolError,
  AddressRateLimitedError,
  InjectedFaultError,
]);

/** Every `TG_ERR_*` code tidegate answers or logs, once each (subclasses may share their parent's code). */
export const ERROR_CODES: readonly string[] = Object.freeze([...new Set(ERROR_CLASSES.map((c) => c.code))]);

// ── errors as data (across threads) ──────────────────────────────────────────────────────────────────────────

/**
 * A TidegateError as plain data, for a worker's answer: structured clone keeps only an Error's message, so the
 * class's own fields travel next to it. `name` picks the class among those sharing a code (subclasses).
 */
export interface ErrorData {
  readonly code: string;
  readonly name: string;
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

/** The error's code, class name, message and own fields (`cause` stays behind: it may not be cloneable). */
export function errorToData(err: TidegateError): ErrorData {
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(err)) {
    if (key !== 'code' && key !== 'cause') fields[key] = (err as unknown as Record<string, unknown>)[key];
  }
  return { code: err.code, name: err.name, message: err.message, fields };
}

/**
 * The same class again, from `errorToData`'s output: made with Error's constructor and the class's prototype, so
 * the message is taken as it is (no constructor re-prefixes it) and the fields are set from the data, never parsed
 * out of the text. An unknown code (a newer worker than this file, which cannot happen in one process) is an
 * InternalError carrying the message.
 */
export function errorFromData(data: ErrorData): TidegateError {
  let cls: ErrorClass | undefined;
  for (const c of ERROR_CLASSES) {
    if (c.code !== data.code) continue;
    if (cls === undefined || c.name === data.name) cls = c;
  }
  if (cls === undefined) return new InternalError(data.message);
  const err = Reflect.construct(Error, [data.message], cls as unknown as new () => TidegateError) as TidegateError;
  Object.assign(err, data.fields);
  (err as { code: string }).code = cls.code;
  return err;
}
