import { sleep } from './wait.js';

/**
 * Measuring a byte rate in a test. A count read in a timer callback misses what arrived while the process waited for
 * the CPU (timers run before the I/O poll), and pairs that stale count with a late clock; a count read after a poll
 * agrees with its clock. A rate over two end points moves by a whole catch-up burst when a stall falls on either
 * (a token bucket passes what it missed once the relay runs again); the least-squares slope of samples taken all
 * along is moved a fraction as much by a stall at an edge and not at all by one inside.
 */

/** A byte count and the clock (`performance.now()`) it was read at. */
export interface Sample {
  readonly at: number;
  readonly bytes: number;
}

const SAMPLE_MS = 100;

/** `read()` after the next I/O poll, with the clock then. */
export async function sample(read: () => number): Promise<Sample> {
  await new Promise((resolve) => setImmediate(resolve));
  return { at: performance.now(), bytes: read() };
}

/** `from`, then samples of `read` every 100 ms for `ms` (by the clock) after it. */
export async function sampleFor(read: () => number, from: Sample, ms: number): Promise<Sample[]> {
  const samples = [from];
  const end = from.at + ms;
  while (samples[samples.length - 1]!.at < end) {
    await sleep(SAMPLE_MS);
    samples.push(await sample(read));
  }
  return samples;
}

/** The least-squares slope of bytes over time, in bytes per second. */
export function slope(samples: readonly Sample[]): number {
  const n = samples.length;
  let meanT = 0;
  let meanB = 0;
  for (const s of samples) {
    meanT += s.at / 1000 / n;
    meanB += s.bytes / n;
  }
  let num = 0;
  let den = 0;
  for (const s of samples) {
    const dt = s.at / 1000 - meanT;
    num += dt * (s.bytes - meanB);
    den += dt * dt;
  }
  return num / den;
}

/** Seconds from the first sample to the last. */
export function spanS(samples: readonly Sample[]): number {
  return (samples[samples.length - 1]!.at - samples[0]!.at) / 1000;
}

/** Bytes from the first sample to the last. */
export function moved(samples: readonly Sample[]): number {
  return samples[samples.length - 1]!.bytes - samples[0]!.bytes;
}
