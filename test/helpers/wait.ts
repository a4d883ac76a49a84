/** Waiting in tests: for states that settle asynchronously, never for timing claims. */

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const POLL_MS = 10;

/**
 * Polls until a state is reached; throws after `timeoutMs`. Two forms:
 * - `eventually(check, timeoutMs?, what?)`: until `check()` is true;
 * - `eventually(read, done, timeoutMs?, what?)`: until `done(read())`, resolving with the value that satisfied it.
 */
export function eventually(check: () => boolean | Promise<boolean>, timeoutMs?: number, what?: string): Promise<void>;
export function eventually<T>(
  read: () => T | Promise<T>, done: (value: T) => boolean, timeoutMs?: number, what?: string,
): Promise<T>;
export async function eventually<T>(
  read: () => T | Promise<T>,
  doneOrTimeout?: ((value: T) => boolean) | number,
  timeoutOrWhat?: number | string,
  whatArg?: string,
): Promise<T> {
  const done = typeof doneOrTimeout === 'function' ? doneOrTimeout : (value: T) => value === true;
  const valueForm = typeof doneOrTimeout === 'function';
  const timeoutMs = (valueForm ? (timeoutOrWhat as number | undefined) : doneOrTimeout) ?? 10_000;
  const what = (valueForm ? whatArg : (timeoutOrWhat as string | undefined)) ?? 'condition';
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(value)})`);
    }
    await sleep(POLL_MS);
  }
}
