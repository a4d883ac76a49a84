import { isAscii, isUtf8 } from 'node:buffer';
import type { JsonObject, JsonValue } from '../dialects/types.js';
import { controlScanArena } from './control-scan.js';

/**
 * A request body's skeleton for routing, made without decoding its long strings: the whole body is validated as
 * JSON on its bytes (what JSON.parse accepts, nothing else), every object, array, number, literal and short string is
 * built as JSON.parse would build it, and a string longer than LONG UTF-16 units becomes a same-length placeholder
 * (a rope made in O(log n), never flattened by the validators), except under the keys whose value routing reads
 * (`model`, the session field). The dialect validators then give the same summary and the same shape errors as on
 * the parsed body (they measure long texts by length; `describe` prints any string over 40 units as "a string").
 * Null when the body is not valid UTF-8 and JSON, or not an object: the caller parses it to get the exact error.
 * Not for conversion: a placeholder is not the text.
 */
export function bodySkeleton(body: Buffer, keep: string | null): JsonObject | null {
  if (!isUtf8(body)) return null;
  const scan = new SkeletonScan(body, keep);
  return scan.run();
}

/**
 * Strings up to this many bytes are decoded, and values holding none longer are left to JSON.parse (it builds small
 * values faster than a loop in JavaScript); a placeholder is only made over 40 UTF-16 units, where `describe()`
 * prints "a string" for the text too.
 */
export const LONG = 1024;
const PAD = 'x';
/** Words a string is scanned with the full test before the rest of a long run goes to farStop(). */
const NEAR_WORDS = 64;
const INVALID = -1;
const DESCEND = -2;
/** string(limit): no closing quote within the limit. */
const LONGER = -3;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/**
 * Non-zero when a word holds a byte below 0x20, a quote or a backslash (SWAR, 4 bytes a step; exact as a yes or no,
 * and so is an OR of several words' masks).
 */
function stopMask(x: number): number {
  const q = x ^ 0x22222222;
  const s = x ^ 0x5c5c5c5c;
  return ((((x - 0x20202020) | 0) & ~x) | (((q - 0x01010101) | 0) & ~q) | (((s - 0x01010101) | 0) & ~s)) &
    0x80808080;
}

/** Non-zero when a word holds a byte below 0x20 (the SWAR test of stopMask alone). */
function controlMask(x: number): number {
  return ((x - 0x20202020) | 0) & ~x & 0x80808080;
}

/** UTF-16 units 4 bytes of a valid UTF-8 text add (each byte alike: see byteUnits). */
function wordUnits(x: number): number {
  // Continuation bytes (10xxxxxx) and 4-byte leads (11110xxx), as their top bits; counted by a multiply.
  const cont = x & ~(x << 1) & 0x80808080;
  const four = x & (x << 1) & (x << 2) & (x << 3) & 0x80808080;
  return 4 - (Math.imul(cont >>> 7, 0x01010101) >>> 24) + (Math.imul(four >>> 7, 0x01010101) >>> 24);
}

/** One body's scan: an explicit stack (no recursion, so any depth JSON.parse takes is taken here too). */
class SkeletonScan {
  readonly b: Buffer;
  readonly n: number;
  /** The body as 32-bit words from `base` on (aligned), for the long-string loop. */
  readonly words: Int32Array;
  readonly base: number;
  /** The body lives in the control-scan arena: farStop() tests 16 bytes a step there (control-scan.ts). */
  readonly simd: boolean;
  /** The last segment of the session field's dotted path: its strings are decoded, whatever their length. */
  readonly keepKey: string | null;
  i = 0;
  /** Set by string(): the string had escapes. */
  escaped = false;
  /**
   * The first quote (backslash) at or after `quoteFrom` (`slashFrom`), or n: see farStop(). The walk goes back over
   * what skip() read ahead, so a found one answers only for places between the two.
   */
  quoteFrom = 0;
  quoteAt = -1;
  slashFrom = 0;
  slashAt = -1;
  /** skip()'s open containers (start indexes), by depth. */
  readonly opens: number[] = [];
  /** Start indexes of the containers around the long string skip() last found, outermost first; `next` is due. */
  readonly path: number[] = [];
  next = 0;

  constructor(b: Buffer, keep: string | null) {
    this.b = b;
    this.n = b.length;
    const misalign = b.byteOffset & 3;
    const base = misalign === 0 ? 0 : 4 - misalign;
    this.base = Math.min(base, b.length);
    this.simd = controlScanArena !== null && controlScanArena.holds(b);
    this.words = new Int32Array(b.buffer, b.byteOffset + this.base, (b.length - this.base) >> 2);
    this.keepKey = keep === null ? null : keep.slice(keep.lastIndexOf('.') + 1);
  }

  run(): JsonObject | null {
    const b = this.b;
    // decodeJsonBody drops a byte-order mark.
    if (this.n >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) this.i = 3;
    this.blanks();
    if (b[this.i] !== OPEN_BRACE) return null;
    // No long string anywhere: JSON.parse builds it faster than this loop would.
    const whole = this.skip();
    if (whole === INVALID) return null;
    if (whole !== DESCEND) {
      const value = this.parse(this.i, whole);
      if (value === undefined) return null;
      this.i = whole;
      return this.end(value as JsonObject);
    }
    this.i++;
    const root: JsonObject = {};
    /** Open containers, innermost last; for each, the key whose strings are kept (inherited by arrays). */
    const stack: (JsonObject | JsonValue[])[] = [root];
    const ctx: (string | null)[] = [null];
    let key: string | null = null;
    // After `{` or `[`: a closing bracket may come at once.
    let first = true;
    for (;;) {
      let top = stack[stack.length - 1]!;
      const inArray = Array.isArray(top);
      this.blanks();
      let c = b[this.i];
      if (first && c === (inArray ? CLOSE_BRACKET : CLOSE_BRACE)) {
        // An empty container: closed here, then the one around it goes on.
        this.i++;
        stack.pop();
        ctx.pop();
        if (stack.length === 0) return this.end(root);
        top = stack[stack.length - 1]!;
      } else {
        if (!inArray) {
          if (c !== QUOTE) return null;
          const end = this.string();
          if (end < 0) return null;
          key = this.decode(this.i, end);
          this.i = end + 1;
          this.blanks();
          if (b[this.i] !== COLON) return null;
          this.i++;
          this.blanks();
          c = b[this.i];
        }
        const within = inArray ? ctx[ctx.length - 1]! : key;
        let value: JsonValue;
        if (c === OPEN_BRACE || c === OPEN_BRACKET) {
          const end = this.skip();
          if (end === INVALID) return null;
          if (end === DESCEND) {
            const made: JsonObject | JsonValue[] = c === OPEN_BRACE ? {} : [];
            put(top, key, made);
            stack.push(made);
            ctx.push(within);
            this.i++;
            first = true;
            continue;
          }
          // Nothing long inside: parsed as a whole (that parse validates it).
          const parsed = this.parse(this.i, end);
          if (parsed === undefined) return null;
          value = parsed;
          this.i = end;
        } else if (c === QUOTE) {
          const start = this.i;
          const end = this.string();
          if (end < 0) return null;
          value = this.stringValue(start, end, within);
          this.i = end + 1;
        } else {
          const v = this.scalar();
          if (v === undefined) return null;
          value = v;
        }
        put(top, key, value);
      }
      // After a value (or an empty container's close): `,` or the close of the innermost container.
      for (;;) {
        first = false;
        this.blanks();
        c = b[this.i];
        if (c === COMMA) {
          this.i++;
          break;
        }
        if (c !== (Array.isArray(top) ? CLOSE_BRACKET : CLOSE_BRACE)) return null;
        this.i++;
        stack.pop();
        ctx.pop();
        if (stack.length === 0) return this.end(root);
        top = stack[stack.length - 1]!;
      }
    }
  }

  /** The root closed: only blanks may follow. */
  private end(root: JsonObject): JsonObject | null {
    this.blanks();
    return this.i === this.n ? root : null;
  }

  private blanks(): void {
    const b = this.b;
    let i = this.i;
    for (;;) {
      const c = b[i];
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      i++;
    }
    this.i = i;
  }

  /**
   * Validates the string opening at this.i (a quote): no raw control byte, only JSON's escapes. Returns the index of
   * its closing quote, INVALID, or LONGER when it goes on past `limit` bytes. Runs without escapes or control bytes
   * go 4 bytes a step.
   */
  private string(limit = Infinity): number {
    const b = this.b;
    const n = this.n;
    const words = this.words;
    const base = this.base;
    let i = this.i + 1;
    const stop = Math.min(n, this.i + 1 + limit);
    const wn = Math.min(words.length, ((stop - base) >> 2) + 1);
    this.escaped = false;
    for (;;) {
      // Byte by byte up to a word boundary, then whole words while none holds a stop byte.
      if (((i - base) & 3) === 0) {
        let w = (i - base) >> 2;
        const near = Math.min(wn, w + NEAR_WORDS);
        while (w < near && stopMask(words[w]!) === 0) w++;
        if (w === near && near < wn) w = this.farStop(w, wn);
        i = base + (w << 2);
      }
      if (i >= stop) return i >= n ? INVALID : LONGER;
      const c = b[i]!;
      if (c === QUOTE) return i;
      if (c < 0x20) return -1;
      if (c === BACKSLASH) {
        this.escaped = true;
        const e = b[i + 1];
        if (e === 0x75) {
          if (!hex(b[i + 2]) || !hex(b[i + 3]) || !hex(b[i + 4]) || !hex(b[i + 5])) return -1;
          i += 6;
        } else if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e ||
          e === 0x72 || e === 0x74) {
          i += 2;
        } else return -1;
      } else i++;
    }
  }

  /**
   * A long run inside a string, from word `w`: the next quote and backslash are found by a native search (memchr,
   * remembered for the run), and only control bytes are tested in the words before them.
   * Returns the first word holding a stop byte, or `wn`.
   */
  private farStop(w: number, wn: number): number {
    const b = this.b;
    const n = this.n;
    const base = this.base;
    const words = this.words;
    const at = base + (w << 2);
    let q = this.quoteAt;
    if (q < at || at < this.quoteFrom) {
      q = b.indexOf(QUOTE, at);
      this.quoteAt = q = q === -1 ? n : q;
      this.quoteFrom = at;
    }
    let s = this.slashAt;
    if (s < at || at < this.slashFrom) {
      s = b.indexOf(BACKSLASH, at);
      this.slashAt = s = s === -1 ? n : s;
      this.slashFrom = at;
    }
    // Words wholly before the first quote or backslash: only a control byte can stop there.
    const end = Math.min(wn, (Math.min(q, s) - base) >> 2);
    if (this.simd && end - w >= 16) {
      // To the first 16 bytes holding a control byte, or to the last 15 before `end`; words finish the rest.
      const origin = b.byteOffset + base;
      w = (controlScanArena!.scan(origin + (w << 2), origin + (end << 2)) - origin) >> 2;
    }
    while (w + 4 <= end && (controlMask(words[w]!) | controlMask(words[w + 1]!) | controlMask(words[w + 2]!) |
      controlMask(words[w + 3]!)) === 0) w += 4;
    while (w < end && controlMask(words[w]!) === 0) w++;
    return w;
  }

  /**
   * From the `{` or `[` at this.i: the index after its matching close when no string inside is longer than LONG
   * bytes (its structure is left to JSON.parse), DESCEND at the first long string, INVALID for a bad string or no
   * close. this.i is not moved.
   */
  private skip(): number {
    const b = this.b;
    const n = this.n;
    const from = this.i;
    const path = this.path;
    if (this.next < path.length && path[this.next] === from) {
      this.next++;
      return DESCEND;
    }
    const opens = this.opens;
    let depth = 0;
    let i = from;
    while (i < n) {
      const c = b[i]!;
      if (c === QUOTE) {
        this.i = i;
        const end = this.string(LONG);
        this.i = from;
        if (end === LONGER) {
          // The containers open here hold that string: the walk will descend into each without scanning again
          // (else a deep nest before a long string would be scanned once per level).
          path.length = 0;
          for (let k = 1; k < depth; k++) path.push(opens[k]!);
          this.next = 0;
          return DESCEND;
        }
        if (end < 0) return INVALID;
        i = end + 1;
        continue;
      }
      if (c === OPEN_BRACE || c === OPEN_BRACKET) opens[depth++] = i;
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return INVALID;
  }

  /** JSON.parse of the bytes [from, to); undefined when they are not one JSON value. */
  private parse(from: number, to: number): JsonValue | undefined {
    try {
      return JSON.parse(this.b.toString('utf8', from, to)) as JsonValue;
    } catch {
      return undefined;
    }
  }

  /** The string between the quotes at `start` and `end`, as JSON.parse makes it. */
  private decode(start: number, end: number): string {
    if (!this.escaped) return this.b.toString('utf8', start + 1, end);
    return JSON.parse(this.b.toString('utf8', start, end + 1)) as string;
  }

  /** A string value: decoded, or a placeholder of its length when it is long and routing never reads it. */
  private stringValue(start: number, end: number, within: string | null): string {
    if (end - start - 1 <= LONG || within === 'model' || (within !== null && within === this.keepKey)) {
      return this.decode(start, end);
    }
    const units = this.units(start + 1, end);
    return units <= 40 ? this.decode(start, end) : PAD.repeat(units);
  }

  /** UTF-16 units of the (valid) string bytes [from, to): what `.length` of the decoded string is. */
  private units(from: number, to: number): number {
    const b = this.b;
    if (!this.escaped && isAscii(b.subarray(from, to))) return to - from;
    let units = 0;
    let i = from;
    if (!this.escaped) {
      // No escapes: whole words at once from the first aligned one (each byte counts alike wherever a character
      // crosses a word's edge: continuation bytes 0, 4-byte leads 2, other bytes 1).
      const base = this.base;
      const words = this.words;
      while (i < to && ((i - base) & 3) !== 0) units += byteUnits(this.b[i++]!);
      if (i < to) {
        let w = (i - base) >> 2;
        const wend = (to - base) >> 2;
        for (; w < wend; w++) units += wordUnits(words[w]!);
        i = base + (w << 2);
      }
      while (i < to) units += byteUnits(this.b[i++]!);
      return units;
    }
    while (i < to) {
      const c = b[i]!;
      if (c === BACKSLASH) {
        i += b[i + 1] === 0x75 ? 6 : 2;
        units++;
        continue;
      }
      // A lead byte starts a character; four-byte ones are a surrogate pair.
      if ((c & 0xc0) !== 0x80) units += c >= 0xf0 ? 2 : 1;
      i++;
    }
    return units;
  }

  /** A number, true, false or null at this.i; undefined when there is none. */
  private scalar(): JsonValue | undefined {
    const b = this.b;
    const i = this.i;
    const c = b[i];
    if (c === 0x74) return this.literal(TRUE, true);
    if (c === 0x66) return this.literal(FALSE, false);
    if (c === 0x6e) return this.literal(NULL, null);
    let j = i;
    if (b[j] === 0x2d) j++;
    if (b[j] === 0x30) j++;
    else if (digit(b[j])) while (digit(b[j])) j++;
    else return undefined;
    let integer = true;
    if (b[j] === 0x2e) {
      integer = false;
      j++;
      if (!digit(b[j])) return undefined;
      while (digit(b[j])) j++;
    }
    if (b[j] === 0x65 || b[j] === 0x45) {
      integer = false;
      j++;
      if (b[j] === 0x2b || b[j] === 0x2d) j++;
      if (!digit(b[j])) return undefined;
      while (digit(b[j])) j++;
    }
    this.i = j;
    const neg = b[i] === 0x2d;
    if (integer && j - i <= (neg ? 16 : 15)) {
      let v = 0;
      for (let k = neg ? i + 1 : i; k < j; k++) v = v * 10 + (b[k]! - 0x30);
      return neg ? -v : v;
    }
    return Number(b.toString('latin1', i, j));
  }

  private literal(word: Buffer, value: boolean | null): boolean | null | undefined {
    const b = this.b;
    const end = this.i + word.length;
    if (end > this.n || b.compare(word, 0, word.length, this.i, end) !== 0) return undefined;
    this.i = end;
    return value;
  }
}

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

/** Adds a member or element as JSON.parse does (the last of equal keys wins; `__proto__` is an own property). */
function put(top: JsonObject | JsonValue[], key: string | null, value: JsonValue): void {
  if (Array.isArray(top)) top.push(value);
  else if (key === '__proto__') {
    Object.defineProperty(top, key, { value, writable: true, enumerable: true, configurable: true });
  } else top[key!] = value;
}

/** UTF-16 units one byte of a valid UTF-8 text adds (see units()). */
function byteUnits(c: number): number {
  return (c & 0xc0) === 0x80 ? 0 : c >= 0xf0 ? 2 : 1;
}

function digit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

function hex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46));
}
