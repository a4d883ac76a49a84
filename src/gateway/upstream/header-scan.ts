/** The few upstream response headers the gateway uses, read from undici's raw list without a string per header. */

/** Case-insensitive match of a raw header name against a lower-case name of the same length. */
export function nameIs(raw: Buffer, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    const c = raw[i]!;
    if ((c >= 0x41 && c <= 0x5a ? c + 0x20 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** The last content-type decoded: a channel answers with the same one again and again, so bytes are compared. */
let lastTypeBytes: Buffer = Buffer.alloc(0);
let lastType = '';

/** A content-type header value as a string, without decoding it when it repeats the last one. */
export function contentTypeOf(raw: Buffer): string {
  const last = lastTypeBytes;
  if (raw.length === last.length) {
    let i = 0;
    while (i < raw.length && raw[i] === last[i]) i++;
    if (i === raw.length) return lastType;
  }
  lastType = raw.toString('latin1');
  // A copy: undici's header buffers may be views of its socket buffer, which the next read overwrites.
  lastTypeBytes = Buffer.from(raw);
  return lastType;
}

/** A content-length value (digits only: undici's parser has checked it) as a number; -1 if it is not one. */
export function decimalOf(raw: Buffer): number {
  if (raw.length === 0 || raw.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const d = raw[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** Retry-After as seconds or an HTTP date → ms, or null. */
export function parseRetryAfter(v: string | null): number | null {
  if (v === null) return null;
  const seconds = Number(v);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(v);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - Date.now());
}
