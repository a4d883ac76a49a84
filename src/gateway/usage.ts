/** Token counts of one response, from its `usage` object or final stream events. Null when nothing said. */
export class TokenUsage {
  prompt: number | null = null;
  completion: number | null = null;
  total: number | null = null;

  /** Reads an OpenAI (`prompt_tokens`…) or Anthropic (`input_tokens`…) usage object; later calls override. */
  read(u: unknown): void {
    if (u === null || typeof u !== 'object') return;
    const o = u as Record<string, unknown>;
    if (typeof o.prompt_tokens === 'number') this.prompt = o.prompt_tokens;
    if (typeof o.completion_tokens === 'number') this.completion = o.completion_tokens;
    if (typeof o.total_tokens === 'number') this.total = o.total_tokens;
    if (typeof o.input_tokens === 'number') {
      // Anthropic counts cached prompt tokens separately; the prompt is all of them.
      this.prompt = o.input_tokens + num(o.cache_creation_input_tokens) + num(o.cache_read_input_tokens);
    }
    if (typeof o.output_tokens === 'number') this.completion = o.output_tokens;
  }

  /** Total = prompt + completion when the upstream did not say. */
  finish(): void {
    if (this.total === null && (this.prompt !== null || this.completion !== null)) this.total = (this.prompt ?? 0) + (this.completion ?? 0);
  }
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}

const USAGE_KEY = Buffer.from('"usage"');
const OPEN = 0x7b;
const CLOSE = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Finds the last top-level-looking `"usage": {...}` in `buf` (the tail of a JSON response) and returns the parsed
 * object, or null. Only the usage object is parsed, never the whole response.
 */
export function findUsageObject(buf: Buffer, from = 0, to = buf.length): unknown {
  let at = buf.lastIndexOf(USAGE_KEY, to - USAGE_KEY.length);
  while (at >= from) {
    if (at === 0 || buf[at - 1] !== BACKSLASH) {
      let i = at + USAGE_KEY.length;
      while (i < to && (buf[i] === 0x20 || buf[i] === 0x0a || buf[i] === 0x0d || buf[i] === 0x09)) i++;
      if (buf[i] === 0x3a) {
        i++;
        while (i < to && (buf[i] === 0x20 || buf[i] === 0x0a || buf[i] === 0x0d || buf[i] === 0x09)) i++;
        if (buf[i] === OPEN) {
          const end = matchBrace(buf, i, to);
          if (end !== -1) {
            try {
              return JSON.parse(buf.toString('utf8', i, end + 1));
            } catch {
              return null;
            }
          }
        }
      }
    }
    if (at === 0) break;
    at = buf.lastIndexOf(USAGE_KEY, at - 1);
  }
  return null;
}

/** Index of the `}` closing the `{` at `start`, skipping strings; -1 when cut off. */
function matchBrace(buf: Buffer, start: number, to: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < to; i++) {
    const b = buf[i];
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (b === OPEN) depth++;
    else if (b === CLOSE && --depth === 0) return i;
  }
  return -1;
}

/** Whether `"usage"` occurs in buf[from, to). */
export function mentionsUsage(buf: Buffer, from: number, to: number): boolean {
  const at = buf.indexOf(USAGE_KEY, from);
  return at !== -1 && at + USAGE_KEY.length <= to;
}
