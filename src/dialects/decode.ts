import { isUtf8 } from 'node:buffer';
import { JsonBodyError } from '../errors.js';
import type { JsonValue } from './types.js';

const BOM0 = 0xef;
const BOM1 = 0xbb;
const BOM2 = 0xbf;
const REPLACEMENT = '\ufffd';

/**
 * Decodes a UTF-8 JSON body. Invalid UTF-8 and syntax errors throw JsonBodyError with the byte position.
 * V8's JSON.parse is iterative, so deep nesting cannot overflow the stack here; the walkers that follow only
 * descend into fields they know, and serialising a too-deep value is caught where it happens.
 */
export function decodeJsonBody(body: Uint8Array): JsonValue {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const start = buf.length >= 3 && buf[0] === BOM0 && buf[1] === BOM1 && buf[2] === BOM2 ? 3 : 0;
  const text = buf.toString('utf8', start);
  // Decoding replaces bad bytes with U+FFFD, so only a text that has one can hide invalid UTF-8. An ASCII body
  // is a one-byte string, where this search ends at once.
  if (text.indexOf(REPLACEMENT) !== -1 && !isUtf8(buf)) {
    const at = firstInvalidUtf8(buf);
    throw new JsonBodyError(
      'utf8', '$', at, `body is not valid UTF-8: bad byte 0x${(buf[at] ?? 0).toString(16)} at byte ${at}`,
    );
  }
  if (text.length === 0) throw new JsonBodyError('syntax', '$', 0, 'body is empty: expected a JSON object');
  try {
    return JSON.parse(text) as JsonValue;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const m = /at position (\d+)/.exec(message);
    const charPos = m ? Number(m[1]) : text.length;
    const bytePos = start + Buffer.byteLength(text.slice(0, charPos), 'utf8');
    const why = message.replace(/ in JSON at position \d+.*$/s, '').replace(/^Unexpected end of JSON input$/, 'unexpected end of input');
    throw new JsonBodyError('syntax', '$', bytePos, `body is not valid JSON: ${why} at byte ${bytePos}`);
  }
}

/** Byte offset of the first invalid UTF-8 sequence (only called once isUtf8 said there is one). */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  const n = b.length;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) { i++; continue; }
    let need: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) { need = 1; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { need = 2; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { need = 3; min = 0x10000; }
    else return i;
    let cp = c & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const cc = b[i + k];
      if (cc === undefined || (cc & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return n;
}

/** Serialises a value to a Buffer; a value nested too deep to serialise becomes a JsonBodyError. */
export function encodeJsonBody(value: unknown): Buffer {
  return Buffer.from(jsonText(value), 'utf8');
}

/** JSON.stringify of a body or of a value inside one; too deep to serialise becomes encodeJsonBody's error. */
export function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (err instanceof RangeError) throw new JsonBodyError('depth', '$', null, 'body is nested too deeply to convert');
    throw err;
  }
}

/** Strings up to this long are checked here for characters to escape; longer ones go to JSON.stringify at once. */
const SHORT = 64;

/**
 * A string as JSON text, the same as JSON.stringify gives (the text encoders write keys themselves and quote only
 * values). Ids and model names need no escaping: quoted here without the call, which costs more than the scan.
 */
export function quote(s: string): string {
  if (s.length > SHORT) return JSON.stringify(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Control characters, quote, backslash and surrogates (a lone one is escaped): JSON.stringify decides.
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return '"' + s + '"';
}

/** A number as JSON.stringify writes it (non-finite numbers are null). */
export function numberText(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

/** JSON.stringify of a nested value (tool arguments); too deep to serialise becomes a JsonBodyError at `path`. */
export function stringifyNested(value: unknown, path: string): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (err instanceof RangeError) {
      throw new JsonBodyError('depth', path, null, `${path}: nested too deeply to convert`);
    }
    throw err;
  }
}
