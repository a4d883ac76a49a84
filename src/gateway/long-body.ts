import { decodeJsonBody } from '../dialects/decode.js';
import { expectObject } from '../dialects/shape.js';
import { summarizeParsed } from '../dialects/summarize.js';
import type { Dialect, RequestSummary } from '../dialects/types.js';
import { bodySkeleton } from './body-skeleton.js';

/** Sampled windows, and their size: 16 native searches for a quote, whatever the body's size. */
const WINDOWS = 16;
const WINDOW_BYTES = 1024;
const QUOTE = 0x22;

/**
 * Whether long strings make up most of a large body (a pasted document, a base64 image, a long tool output): then
 * its skeleton (body-skeleton.ts) is much cheaper than JSON.parse, which copies every string. A body of many small
 * values (a long chat of short turns) is built faster by JSON.parse. Sampled: a window of 1 KiB with no quote in it
 * lies inside a long string; half the windows or more decide.
 */
export function mostlyLongStrings(body: Buffer): boolean {
  const n = body.length;
  if (n < WINDOWS * WINDOW_BYTES) return false;
  const step = Math.floor((n - WINDOW_BYTES) / (WINDOWS - 1));
  let inside = 0;
  // The first quote at or after the last window searched: a search runs on to the next quote, so one that ran past
  // later windows answers for them too (one pass over a body of one long string, not one per window).
  let q = -2;
  for (let k = 0; k < WINDOWS; k++) {
    const from = k * step;
    if (q !== -1 && q < from) q = body.indexOf(QUOTE, from);
    if (q === -1 || q >= from + WINDOW_BYTES) inside++;
  }
  return inside * 2 >= WINDOWS;
}

/**
 * A request's routing summary from its skeleton: the same summary and the same errors as summarizeRequest (an
 * invalid body is parsed to get JSON.parse's exact error and byte position), without decoding long strings.
 */
export function summarizeLong(dialect: Dialect, body: Uint8Array, sessionField: string | null): RequestSummary {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const root = bodySkeleton(buf, sessionField) ?? expectObject(decodeJsonBody(buf), '$');
  return summarizeParsed(dialect, root, sessionField);
}
