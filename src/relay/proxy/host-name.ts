import { isIP } from 'node:net';

/** Letters, digits, inner hyphens; underscores too (found in real names, harmless to a resolver). */
const LABEL_RE = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
const DIGITS_RE = /^\d+$/;

/**
 * An IPv4 literal or a DNS name (labels of at most 63 characters, at most 253 in all, one trailing dot allowed).
 * A name whose last label is all digits is refused: resolvers read `127.1` or `0x7f.1` as addresses.
 */
export function isHostName(host: string): boolean {
  if (isIP(host) === 4) return true;
  if (host.length === 0 || host.length > 253) return false;
  const labels = (host.endsWith('.') ? host.slice(0, -1) : host).split('.');
  for (const label of labels) if (!LABEL_RE.test(label)) return false;
  return !DIGITS_RE.test(labels[labels.length - 1]!);
}
