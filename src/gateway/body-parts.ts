import { controlScanArena } from './control-scan.js';

export { partsLength } from './upstream/request.js';

/**
 * A large request body kept as node:http read it (BodyIntake.parts): its length, and a contiguous copy for a
 * synchronous read (the routing scan) in one buffer reused by every request of this thread, so reading a large body
 * allocates nothing. The copy is only valid until the next call: nothing may keep it or a view of it.
 */
let scratch: Buffer | null = null;

/**
 * The parts in one buffer, reused by the next call: for reads that end before the caller returns. In the control-scan
 * arena where there is one (the skeleton scan tests its long strings with SIMD there).
 */
export function scratchCopy(parts: readonly Buffer[], length: number): Buffer {
  let s: Buffer;
  if (controlScanArena !== null) s = controlScanArena.buffer(length);
  else {
    if (scratch === null || scratch.length < length) scratch = Buffer.allocUnsafeSlow(length);
    s = scratch;
  }
  let at = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    p.copy(s, at);
    at += p.length;
  }
  return s.subarray(0, length);
}
