import type { PortRange } from '../types.js';
import type { Reader } from '../validator.js';

const RANGE_RE = /^(\d{1,5})-(\d{1,5})$/;

/** `"20000-29999"`: ports 1-65535, low first; null (the issue recorded at `path`) when it is not one. */
export function readPortRange(r: Reader, path: string, text: string): PortRange | null {
  const m = RANGE_RE.exec(text);
  const from = m ? Number(m[1]) : 0;
  const to = m ? Number(m[2]) : 0;
  if (!m || from < 1 || to > 65535 || from > to) {
    r.fail(path, `expected a port range like "20000-29999" (1-65535, low first), got "${text}"`);
    return null;
  }
  return { from, to };
}
