/** What a request may produce when it does not say (OpenAI's max_tokens is optional): the reservation's output. */
export const MAX_TOKENS_UNSAID = 4096;

/** `"max_`: one native scan finds every candidate key; the rest of each key is compared in place. */
const PREFIX = Buffer.from('"max_');
/** Gemini's `generationConfig.maxOutputTokens`. */
const GEMINI = Buffer.from('"maxOutputTokens"');
const SUFFIXES = [Buffer.from('tokens"'), Buffer.from('completion_tokens"'), Buffer.from('output_tokens"')];

/**
 * The request's output cap (`max_tokens`, `max_completion_tokens`, `max_output_tokens`, Gemini's
 * `maxOutputTokens`), read where it stands in the
 * body (one indexOf per `"max_` and a few digits; only for users or keys with a budget or a tpm limit), else
 * MAX_TOKENS_UNSAID.
 */
export function maxOutputTokens(body: Buffer): number {
  let at = body.indexOf(PREFIX);
  while (at !== -1) {
    const from = at + PREFIX.length;
    for (let k = 0; k < SUFFIXES.length; k++) {
      const suffix = SUFFIXES[k]!;
      const end = from + suffix.length;
      if (end <= body.length && body.compare(suffix, 0, suffix.length, from, end) === 0) {
        const n = digitsAt(body, end);
        if (n !== -1) return n;
      }
    }
    at = body.indexOf(PREFIX, from);
  }
  const gemini = body.indexOf(GEMINI);
  const n = gemini === -1 ? -1 : digitsAt(body, gemini + GEMINI.length);
  return n === -1 ? MAX_TOKENS_UNSAID : n;
}

/** The integer after optional spaces and a colon at `i`, or -1 when none. */
function digitsAt(body: Buffer, i: number): number {
  while (i < body.length && isSpaceOrColon(body[i]!)) i++;
  let n = 0;
  const start = i;
  while (i < body.length && body[i]! >= 0x30 && body[i]! <= 0x39 && i - start < 12) n = n * 10 + (body[i++]! - 0x30);
  return i > start ? n : -1;
}

function isSpaceOrColon(b: number): boolean {
  return b === 0x20 || b === 0x3a || b === 0x0a || b === 0x0d || b === 0x09;
}
