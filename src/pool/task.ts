import { fileURLToPath } from 'node:url';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { errorToData, TidegateError, type ErrorData } from '../errors.js';

/**
 * A task the pool can run: an export (`name`) of a worker module, loaded by its file (compiled JS, so a domain's
 * `tasks.js` next to its `.ts`), never imported by the pool. `I` is the input, `O` the value the task answers.
 */
export interface Task<I, O> {
  readonly filename: string;
  readonly name: string;
  /** Type only (never set): ties the input and output types to the task. */
  readonly types?: (input: I) => O;
}

/** `module` is the worker file's URL, usually `new URL('./tasks.js', import.meta.url)`. */
export function defineTask<I, O>(module: URL, name: string): Task<I, O> {
  return { filename: fileURLToPath(module), name };
}

/**
 * What every task function returns. A TidegateError (a fault of the input: a bad body, a missing file) travels as
 * data and is rebuilt as its class on the main thread; anything else a task throws is a fault of the task.
 */
export type TaskOutcome<O> =
  | { readonly ok: true; readonly value: O }
  | { readonly ok: false; readonly error: ErrorData };

// ---- for the worker side of tasks ----

export function succeeded<O>(value: O): TaskOutcome<O> {
  return { ok: true, value };
}

/** Like `succeeded`, with these ArrayBuffers moved (transferred) to the main thread instead of copied. */
export function succeededMoving<O>(value: O, buffers: ArrayBufferLike[]): TaskOutcome<O> {
  const outcome: TaskOutcome<O> = { ok: true, value };
  return move({ [transferableSymbol]: buffers, [valueSymbol]: outcome } as never) as unknown as TaskOutcome<O>;
}

/** A TidegateError as a failed outcome; any other throw is rethrown (Piscina rejects: PoolTaskError). */
export function failed(err: unknown): TaskOutcome<never> {
  if (err instanceof TidegateError) return { ok: false, error: errorToData(err) };
  throw err;
}
