import { DEFAULTS } from '../defaults.js';
import type { RateConfig } from '../types.js';
import { join, type Reader } from '../validator.js';

/** A `rate:` block (a user's or a service's); null when absent. */
export function readRate(r: Reader, path: string, value: unknown): RateConfig | null {
  if (value === undefined || value === null) return null;
  const o = r.object(path, value, ['in', 'out']);
  const d = DEFAULTS.rate;
  const rate = {
    inBytesPerSec: r.rate(join(path, 'in'), o.in, d.inBytesPerSec),
    outBytesPerSec: r.rate(join(path, 'out'), o.out, d.outBytesPerSec),
  };
  if (o.in === undefined && o.out === undefined) r.fail(path, 'expected "in" and/or "out"');
  return rate;
}
