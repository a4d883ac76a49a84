/**
 * Token counts of one response, from its `usage` object or final stream events. `prompt` and `completion` are the
 * upstream's totals (cached and reasoning tokens included); the classes apart are `cacheRead`, `cacheWrite` and
 * `reasoning`, so input (uncached) = prompt - cacheRead - cacheWrite and output = completion - reasoning.
 * Null when nothing said.
 */
export class TokenUsage {
  prompt: number | null = null;
  completion: number | null = null;
  total: number | null = null;
  cacheRead = 0;
  cacheWrite = 0;
  reasoning = 0;
  /** Events of a stream passed to the client: the output estimate of a stream cut before its usage (≈ a token each). */
  events = 0;
  /** The counts are estimates (a stream that ended before its usage); set by estimate(). */
  estimated = false;

  /** Reads an OpenAI (`prompt_tokens`…) or Anthropic (`input_tokens`…) usage object; later calls override. */
  read(u: unknown): void {
    if (u === null || typeof u !== 'object') return;
    const o = u as Record<string, unknown>;
    const pd = o.prompt_tokens_details as Record<string, unknown> | undefined;
    const cd = o.completion_tokens_details as Record<string, unknown> | undefined;
    const id = o.input_tokens_details as Record<string, unknown> | undefined;
    if (id !== null && typeof id === 'object') {
      // Responses: input_tokens includes the cached ones (OpenAI's way), unlike Anthropic's input_tokens.
      const od = o.output_tokens_details as Record<string, unknown> | undefined;
      this.apply(
        numOrNaN(o.input_tokens), numOrNaN(o.output_tokens), numOrNaN(o.total_tokens), NaN, NaN, NaN, NaN,
        numOrNaN(id.cached_tokens), od !== null && typeof od === 'object' ? numOrNaN(od.reasoning_tokens) : NaN,
      );
      return;
    }
    this.apply(
      numOrNaN(o.prompt_tokens), numOrNaN(o.completion_tokens), numOrNaN(o.total_tokens), numOrNaN(o.input_tokens),
      numOrNaN(o.output_tokens), numOrNaN(o.cache_creation_input_tokens), numOrNaN(o.cache_read_input_tokens),
      pd !== null && typeof pd === 'object' ? numOrNaN(pd.cached_tokens) : NaN,
      cd !== null && typeof cd === 'object' ? numOrNaN(cd.reasoning_tokens) : NaN,
    );
  }

  /** Reads Gemini's `usageMetadata` (the prompt includes cached tokens; thoughts are output apart). */
  readGemini(u: unknown): void {
    if (u === null || typeof u !== 'object') return;
    const o = u as Record<string, unknown>;
    const candidates = numOrNaN(o.candidatesTokenCount);
    const thoughts = numOrNaN(o.thoughtsTokenCount);
    const completion = candidates === candidates || thoughts === thoughts
      ? (candidates === candidates ? candidates : 0) + (thoughts === thoughts ? thoughts : 0)
      : NaN;
    this.apply(
      numOrNaN(o.promptTokenCount), completion, numOrNaN(o.totalTokenCount), NaN, NaN, NaN, NaN,
      numOrNaN(o.cachedContentTokenCount), thoughts,
    );
  }

  /** The fields of a usage object, NaN where absent. */
  apply(
    prompt: number, completion: number, total: number, input: number, output: number, cacheCreation: number,
    cacheRead: number, cached = NaN, reasoning = NaN,
  ): void {
    if (prompt === prompt) this.prompt = prompt;
    if (completion === completion) this.completion = completion;
    if (total === total) this.total = total;
    // OpenAI: cached prompt tokens are part of prompt_tokens; reasoning tokens part of completion_tokens.
    if (cached === cached) this.cacheRead = cached;
    if (reasoning === reasoning) this.reasoning = reasoning;
    // Anthropic counts cached prompt tokens separately; the prompt is all of them.
    if (input === input) {
      const creation = cacheCreation === cacheCreation ? cacheCreation : this.cacheWrite;
      const read = cacheRead === cacheRead ? cacheRead : this.cacheRead;
      this.cacheWrite = creation;
      this.cacheRead = read;
      this.prompt = input + creation + read;
    }
    if (output === output) this.completion = output;
  }

  /** Total = prompt + completion when the upstream did not say. */
  finish(): void {
    if (this.total === null && (this.prompt !== null || this.completion !== null)) {
      this.total = (this.prompt ?? 0) + (this.completion ?? 0);
    }
  }

  /**
   * An answer that went out but whose usage is missing or was cut short (client abort, upstream failure, timeout):
   * books what was seen, the request's estimate for a prompt the upstream never stated and one token per streamed
   * event for the output (providers stream a token or a few per delta; framing events make it an overestimate by a
   * handful). `cut`: the answer ended early, so a stated output (Anthropic's message_start says 1) may be short.
   */
  estimate(promptEstimate: number, cut: boolean): void {
    if (this.prompt === null) {
      this.prompt = promptEstimate;
      this.estimated = true;
    }
    if (this.completion === null || (cut && this.completion < this.events)) {
      this.completion = this.events;
      this.estimated = true;
    }
    if (this.estimated) this.total = null;
  }

  /** Uncached input tokens. */
  get input(): number {
    return Math.max(0, (this.prompt ?? 0) - this.cacheRead - this.cacheWrite);
  }

  /** Output tokens without reasoning tokens. */
  get output(): number {
    return Math.max(0, (this.completion ?? 0) - this.reasoning);
  }
}

function numOrNaN(v: unknown): number {
  return typeof v === 'number' ? v : NaN;
}

const USAGE_KEY = Buffer.from('"usage"');
const OPEN = 0x7b;
const CLOSE = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

/**
 * Reads the token counts of the last complete `"usage": {...}` in `buf` (the tail of a JSON response) into
 * `usage`. The object's top-level integer fields are read where they stand, with no string or object made; an
 * object this scan does not expect (a fraction, an escape in a key) is parsed instead.
 */
export function readUsage(buf: Buffer, usage: TokenUsage): void {
  for (
    let at = lastUsageKey(buf, buf.length - USAGE_KEY.length); at !== -1;
    at = at === 0 ? -1 : lastUsageKey(buf, at - 1)
  ) {
    if (at > 0 && buf[at - 1] === BACKSLASH) continue;
    let i = skipSpace(buf, at + USAGE_KEY.length);
    if (buf[i] !== COLON) continue;
    i = skipSpace(buf, i + 1);
    if (buf[i] !== OPEN) continue;
    if (scanUsage(buf, i, usage)) return;
    // Not a shape the scan reads, or cut off by the start of the tail: parse it if it is whole, else look earlier.
    const end = matchClose(buf, i);
    if (end === -1) continue;
    usage.read(parseObjectAt(buf, i, end));
    return;
  }
}

function parseObjectAt(buf: Buffer, start: number, end: number): unknown {
  try {
    return JSON.parse(buf.toString('utf8', start, end + 1));
  } catch {
    return null;
  }
}

/** Bytes searched from the end in JS before handing over to Buffer#lastIndexOf (a native call costs ~100 ns). */
const NEAR_END = 256;

/** Index of the last `"usage"` in buf starting at or before `from`, or -1. Usage comes last in an answer. */
function lastUsageKey(buf: Buffer, from: number): number {
  const stop = Math.max(0, from - NEAR_END);
  for (let i = from; i >= stop; i--) {
    if (buf[i] === QUOTE && buf[i + 1] === 0x75 && buf[i + 2] === 0x73 && buf[i + 3] === 0x61 && buf[i + 4] === 0x67
      && buf[i + 5] === 0x65 && buf[i + 6] === QUOTE) return i;
  }
  return stop === 0 ? -1 : buf.lastIndexOf(USAGE_KEY, stop - 1);
}

const PROMPT_TOKENS = 'prompt_tokens';
const COMPLETION_TOKENS = 'completion_tokens';
const TOTAL_TOKENS = 'total_tokens';
const INPUT_TOKENS = 'input_tokens';
const OUTPUT_TOKENS = 'output_tokens';
const CACHE_CREATION = 'cache_creation_input_tokens';
const CACHE_READ = 'cache_read_input_tokens';

/**
 * Reads the usage object whose `{` is at `start` into `usage`. Returns false, having changed nothing, when it meets
 * what it does not handle or the buffer ends first; nested values are skipped.
 */
function scanUsage(buf: Buffer, start: number, usage: TokenUsage): boolean {
  let prompt = NaN;
  let completion = NaN;
  let total = NaN;
  let input = NaN;
  let output = NaN;
  let cacheCreation = NaN;
  let cacheRead = NaN;
  let cached = NaN;
  let reasoning = NaN;
  let i = skipSpace(buf, start + 1);
  if (buf[i] === CLOSE) return true;
  for (;;) {
    if (buf[i] !== QUOTE) return false;
    const keyStart = i + 1;
    let keyEnd = keyStart;
    while (keyEnd < buf.length && buf[keyEnd] !== QUOTE && buf[keyEnd] !== BACKSLASH) keyEnd++;
    if (buf[keyEnd] !== QUOTE) return false;
    i = skipSpace(buf, keyEnd + 1);
    if (buf[i] !== COLON) return false;
    i = skipSpace(buf, i + 1);
    const c = buf[i]!;
    if (c >= 0x30 && c <= 0x39) {
      const digitsStart = i;
      let n = 0;
      while (i < buf.length && buf[i]! >= 0x30 && buf[i]! <= 0x39) n = n * 10 + (buf[i++]! - 0x30);
      const after = buf[i];
      // A fraction, an exponent or more digits than a double holds exactly: let JSON.parse read it.
      if (after === 0x2e || after === 0x65 || after === 0x45 || i - digitsStart > 15) return false;
      switch (keyEnd - keyStart) {
        case 12:
          if (keyIs(buf, keyStart, TOTAL_TOKENS)) total = n;
          else if (keyIs(buf, keyStart, INPUT_TOKENS)) input = n;
          break;
        case 13:
          if (keyIs(buf, keyStart, PROMPT_TOKENS)) prompt = n;
          else if (keyIs(buf, keyStart, OUTPUT_TOKENS)) output = n;
          break;
        case 17:
          if (keyIs(buf, keyStart, COMPLETION_TOKENS)) completion = n;
          break;
        case 23:
          if (keyIs(buf, keyStart, CACHE_READ)) cacheRead = n;
          break;
        case 27:
          if (keyIs(buf, keyStart, CACHE_CREATION)) cacheCreation = n;
          break;
      }
    } else if (c === 0x2d) {
      return false; // a negative number: no count is one, so let JSON.parse and the usual checks have it
    } else if (c === OPEN && keyEnd - keyStart === 21 && keyIs(buf, keyStart, PROMPT_DETAILS)) {
      i = scanDetailCount(buf, i, CACHED_TOKENS);
      if (i === -1) return false;
      cached = detailCount;
    } else if (c === OPEN && keyEnd - keyStart === 25 && keyIs(buf, keyStart, COMPLETION_DETAILS)) {
      i = scanDetailCount(buf, i, REASONING_TOKENS);
      if (i === -1) return false;
      reasoning = detailCount;
    } else {
      i = skipValue(buf, i);
      if (i === -1) return false;
    }
    i = skipSpace(buf, i);
    if (buf[i] === CLOSE) break;
    if (buf[i] !== COMMA) return false;
    i = skipSpace(buf, i + 1);
  }
  usage.apply(prompt, completion, total, input, output, cacheCreation, cacheRead, cached, reasoning);
  return true;
}

const PROMPT_DETAILS = 'prompt_tokens_details';
const COMPLETION_DETAILS = 'completion_tokens_details';
const CACHED_TOKENS = 'cached_tokens';
const REASONING_TOKENS = 'reasoning_tokens';
/** The count scanDetailCount found (NaN: absent); module-level so the scan returns one number and allocates nothing. */
let detailCount = NaN;

/**
 * Reads the integer field `name` of the flat details object whose `{` is at `start` into detailCount; returns the
 * index past its `}`, or -1 for a shape this scan does not read (the caller parses instead).
 */
function scanDetailCount(buf: Buffer, start: number, name: string): number {
  detailCount = NaN;
  let i = skipSpace(buf, start + 1);
  if (buf[i] === CLOSE) return i + 1;
  for (;;) {
    if (buf[i] !== QUOTE) return -1;
    const keyStart = i + 1;
    let keyEnd = keyStart;
    while (keyEnd < buf.length && buf[keyEnd] !== QUOTE && buf[keyEnd] !== BACKSLASH) keyEnd++;
    if (buf[keyEnd] !== QUOTE) return -1;
    i = skipSpace(buf, keyEnd + 1);
    if (buf[i] !== COLON) return -1;
    i = skipSpace(buf, i + 1);
    const c = buf[i]!;
    if (c >= 0x30 && c <= 0x39) {
      let n = 0;
      const digitsStart = i;
      while (i < buf.length && buf[i]! >= 0x30 && buf[i]! <= 0x39) n = n * 10 + (buf[i++]! - 0x30);
      const after = buf[i];
      if (after === 0x2e || after === 0x65 || after === 0x45 || i - digitsStart > 15) return -1;
      if (keyEnd - keyStart === name.length && keyIs(buf, keyStart, name)) detailCount = n;
    } else {
      i = skipValue(buf, i);
      if (i === -1) return -1;
    }
    i = skipSpace(buf, i);
    if (buf[i] === CLOSE) return i + 1;
    if (buf[i] !== COMMA) return -1;
    i = skipSpace(buf, i + 1);
  }
}

function keyIs(buf: Buffer, at: number, name: string): boolean {
  for (let k = 0; k < name.length; k++) if (buf[at + k] !== name.charCodeAt(k)) return false;
  return true;
}

function skipSpace(buf: Buffer, i: number): number {
  while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x0a || buf[i] === 0x0d || buf[i] === 0x09)) i++;
  return i;
}

/**
 * Index just past the JSON value at `i` (not a number): a string, an object, an array or a literal; -1 if
 * malformed.
 */
function skipValue(buf: Buffer, i: number): number {
  const c = buf[i];
  if (c === QUOTE) {
    for (let k = i + 1; k < buf.length; k++) {
      if (buf[k] === BACKSLASH) k++;
      else if (buf[k] === QUOTE) return k + 1;
    }
    return -1;
  }
  if (c === OPEN || c === OPEN_ARRAY) {
    const end = matchClose(buf, i);
    return end === -1 ? -1 : end + 1;
  }
  // true, false, null
  let k = i;
  while (k < buf.length && buf[k]! >= 0x61 && buf[k]! <= 0x7a) k++;
  return k === i ? -1 : k;
}

/** Index of the `}` or `]` closing the `{` or `[` at `start`, skipping strings; -1 when cut off. */
function matchClose(buf: Buffer, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < buf.length; i++) {
    const b = buf[i];
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (b === OPEN || b === OPEN_ARRAY) depth++;
    else if ((b === CLOSE || b === CLOSE_ARRAY) && --depth === 0) return i;
  }
  return -1;
}

/** Whether `"usage"` occurs in buf[from, to). */
/**
 * Reads the last complete `"usageMetadata": {...}` of a Gemini answer's tail (parsed: the object is small and only
 * Gemini answers are looked at).
 */
export function readGeminiUsage(buf: Buffer, usage: TokenUsage): void {
  let at = buf.lastIndexOf(GEMINI_USAGE_KEY);
  while (at !== -1) {
    let i = skipSpace(buf, at + GEMINI_USAGE_KEY.length);
    if (buf[i] === COLON) {
      i = skipSpace(buf, i + 1);
      const end = buf[i] === OPEN ? matchClose(buf, i) : -1;
      if (end !== -1) {
        usage.readGemini(parseObjectAt(buf, i, end));
        return;
      }
    }
    at = at === 0 ? -1 : buf.lastIndexOf(GEMINI_USAGE_KEY, at - 1);
  }
}

const GEMINI_USAGE_KEY = Buffer.from('"usageMetadata"');

/** Whether buf[from, to) (a Gemini stream event) has a `"usageMetadata"`. */
export function mentionsGeminiUsage(buf: Buffer, from: number, to: number): boolean {
  const at = buf.indexOf(GEMINI_USAGE_KEY, from);
  return at !== -1 && at + GEMINI_USAGE_KEY.length <= to;
}

export function mentionsUsage(buf: Buffer, from: number, to: number): boolean {
  const at = buf.indexOf(USAGE_KEY, from);
  return at !== -1 && at + USAGE_KEY.length <= to;
}
