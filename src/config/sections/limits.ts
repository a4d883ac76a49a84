import type { LimitsConfig } from '../types.js';
import { join, type Reader } from '../validator.js';

/** `limits: { rpm, tpm, concurrent }` (users, keys, channels); null when absent. A limit of 0 is an error. */
export function readLimits(r: Reader, path: string, value: unknown): LimitsConfig | null {
  if (value === undefined || value === null) return null;
  const o = r.object(path, value, ['rpm', 'tpm', 'concurrent']);
  const limit = (key: string): number | null =>
    o[key] === undefined || o[key] === null ? null : r.integer(join(path, key), o[key], 1, 1);
  return { rpm: limit('rpm'), tpm: limit('tpm'), concurrent: limit('concurrent') };
}
