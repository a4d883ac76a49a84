import { TidegateError } from '../errors.js';

/** What a log line may say about an unexpected error. */
export interface ErrorDescription {
  readonly type: string;
  readonly code: string | undefined;
  readonly message: string;
  readonly stack: string | undefined;
}

const MAX_MESSAGE = 500;
const MAX_STACK = 2_000;

/**
 * Its kind, code, message and stack, cut short; never its other fields. An error's own properties may carry a
 * request's headers, dial options or a config (keys and tokens), so a guard never logs the object itself.
 */
export function describeError(err: unknown): ErrorDescription {
  if (!(err instanceof Error)) {
    return { type: typeof err, code: undefined, message: cut(String(err), MAX_MESSAGE), stack: undefined };
  }
  const code = err instanceof TidegateError ? err.code : (err as NodeJS.ErrnoException).code;
  return {
    type: err.name,
    code: typeof code === 'string' ? code : undefined,
    message: cut(err.message, MAX_MESSAGE),
    stack: err.stack === undefined ? undefined : cut(err.stack, MAX_STACK),
  };
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
