/**
 * Every error tidegate raises, each with a stable `TG_ERR_*` code.
 * Messages say what was expected and what came. Subsystems add their classes here, never elsewhere.
 */

export abstract class TidegateError extends Error {
  abstract readonly code: string;
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
  readonly code = 'TG_ERR_CONFIG';
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
  readonly code = 'TG_ERR_CONFIG_READ';
}

/** Bad command-line usage. */
export class UsageError extends TidegateError {
  readonly code = 'TG_ERR_USAGE';
}

/** A listener could not bind its address (port in use, permission, bad interface). */
export class ListenError extends TidegateError {
  readonly code = 'TG_ERR_LISTEN';
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
  readonly code = 'TG_ERR_UPSTREAM_UNAVAILABLE';
}

/** A connect attempt did not complete in time. */
export class ConnectTimeoutError extends TidegateError {
  readonly code = 'TG_ERR_CONNECT_TIMEOUT';
}

/** A reload was requested while another one is still applying. */
export class ReloadBusyError extends TidegateError {
  readonly code = 'TG_ERR_RELOAD_BUSY';
}

/** Admin API: missing or wrong bearer token. */
export class UnauthorizedError extends TidegateError {
  readonly code = 'TG_ERR_UNAUTHORIZED';
}

/** The runtime is shutting down and refuses new work. */
export class ShuttingDownError extends TidegateError {
  readonly code = 'TG_ERR_SHUTTING_DOWN';
}

// ---- worker pool, JSON bodies, GeoIP, credentials (pool subsystem) ----

/** The pool's bounded queue is full: the caller answers 503 with `Retry-After: retryAfterSeconds`. */
export class PoolQueueFullError extends TidegateError {
  readonly code = 'TG_ERR_POOL_QUEUE_FULL';
  readonly retryAfterSeconds: number;
  constructor(maxQueue: number, retryAfterSeconds = 1) {
    super(`worker pool queue is full (${maxQueue} tasks waiting); retry after ${retryAfterSeconds}s`);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A pool task failed for a reason other than its input: the worker died or threw unexpectedly. */
export class PoolTaskError extends TidegateError {
  readonly code = 'TG_ERR_POOL_TASK';
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
  readonly code = 'TG_ERR_POOL_CLOSED';
}

export type JsonBodyProblem = 'utf8' | 'syntax' | 'shape' | 'depth' | 'unsupported';

/**
 * A request or response body is not what its endpoint expects. `path` is a JSON path (`$.messages[2].role`),
 * `position` the byte offset for encoding and syntax problems (null for shape problems). The gateway answers 400.
 */
export class JsonBodyError extends TidegateError {
  readonly code = 'TG_ERR_JSON_BODY';
  readonly problem: JsonBodyProblem;
  readonly path: string;
  readonly position: number | null;
  constructor(problem: JsonBodyProblem, path: string, position: number | null, message: string) {
    super(message);
    this.problem = problem;
    this.path = path;
    this.position = position;
  }
  override toJSON(): { code: string; message: string; problem: JsonBodyProblem; path: string; position: number | null } {
    return { code: this.code, message: this.message, problem: this.problem, path: this.path, position: this.position };
  }
}

/** The GeoIP database or a range list is missing, unreadable or corrupt (raised by `ready()`, at start). */
export class GeoDatabaseError extends TidegateError {
  readonly code = 'TG_ERR_GEO_DATABASE';
  readonly file: string;
  constructor(file: string, message: string) {
    super(`GeoIP database ${file}: ${message}`);
    this.file = file;
  }
}

/** A credentials directory cannot be scanned at all (missing, not a directory, unreadable). */
export class CredentialsDirError extends TidegateError {
  readonly code = 'TG_ERR_CREDENTIALS_DIR';
  readonly dir: string;
  constructor(dir: string, message: string) {
    super(`credentials directory ${dir}: ${message}`);
    this.dir = dir;
  }
}
