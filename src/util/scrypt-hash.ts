/** A stored scrypt password hash: `scrypt$N$r$p$salt$hash`, salt and hash in base64 (standard or url-safe). */
export interface ScryptHash {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
  /** Memory scrypt needs for these parameters, passed as its `maxmem`. */
  readonly maxmem: number;
}

/** Parameters beyond this much memory are refused (node:crypto's default `maxmem` is 32 MiB). */
export const SCRYPT_MAX_MEMORY = 256 * 1024 * 1024;
const B64_RE = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** The parsed hash, or what is wrong with it (a sentence for the config error). */
export function parseScryptHash(text: string): ScryptHash | string {
  const parts = text.split('$');
  const expected = 'expected scrypt$N$r$p$salt$hash (N a power of two, salt and hash in base64)';
  if (parts.length !== 6 || parts[0] !== 'scrypt') return expected;
  const [, nText, rText, pText, saltText, hashText] = parts as [string, string, string, string, string, string];
  const N = Number(nText);
  const r = Number(rText);
  const p = Number(pText);
  if (!/^\d+$/.test(nText) || N < 2 || N > 2 ** 24 || (N & (N - 1)) !== 0) return `${expected}; N is ${nText}`;
  if (!/^\d+$/.test(rText) || r < 1 || r > 64) return `${expected}; r must be 1-64, got ${rText}`;
  if (!/^\d+$/.test(pText) || p < 1 || p > 16) return `${expected}; p must be 1-16, got ${pText}`;
  if (!B64_RE.test(saltText) || !B64_RE.test(hashText)) return `${expected}; salt or hash is not base64`;
  const salt = Buffer.from(saltText, 'base64');
  const hash = Buffer.from(hashText, 'base64');
  if (salt.length < 8) return `${expected}; the salt must be at least 8 bytes`;
  if (hash.length < 16 || hash.length > 128) return `${expected}; the hash must be 16-128 bytes`;
  const maxmem = 128 * N * r * (p + 2);
  if (maxmem > SCRYPT_MAX_MEMORY) return `${expected}; N=${N}, r=${r} need more than 256 MiB`;
  return { N, r, p, salt, hash, maxmem };
}
