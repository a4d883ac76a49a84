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

// ── native relay (src/relay/native/) ──────────────────────────────────────────────────────────────────────────

/** A socket could not be handed over to the native relay (no fd: destroyed, not yet connected, or not a stream). */
export class RelayHandoverError extends TidegateError {
  readonly code = 'TG_ERR_RELAY_HANDOVER';
}

/** A relay option or rate had an invalid value (negative, not a number, a limit of another engine). */
export class RelayOptionError extends TidegateError {
  readonly code = 'TG_ERR_RELAY_OPTION';
}
