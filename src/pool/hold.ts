/**
 * Diagnostic task: parks a worker until `flag[0]` becomes non-zero (tests and the bench fill the pool with it).
 * The worker sets `flag[1]` to 1 once it is parked. `flag[0]` = 1 finishes, 2 exits the thread like a crash.
 */
import { defineTask, succeeded, type TaskOutcome } from './task.js';

export interface HoldInput {
  readonly flag: SharedArrayBuffer;
  readonly maxMs: number;
}

export const HOLD_TASK = defineTask<HoldInput, boolean>(new URL('./hold.js', import.meta.url), 'hold');

/** Runs in a worker. False when `maxMs` passed without a release. */
export function hold(input: HoldInput): TaskOutcome<boolean> {
  const flag = new Int32Array(input.flag);
  Atomics.store(flag, 1, 1);
  Atomics.notify(flag, 1);
  const deadline = Date.now() + input.maxMs;
  while (Atomics.load(flag, 0) === 0) {
    const left = deadline - Date.now();
    if (left <= 0) return succeeded(false);
    Atomics.wait(flag, 0, 0, left);
  }
  // 2 = die the way a crashed worker does (tests of worker replacement); 1 = finish normally.
  if (Atomics.load(flag, 0) === 2) process.exit(70);
  return succeeded(true);
}
