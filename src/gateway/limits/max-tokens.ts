/** What a request may produce when it does not say (OpenAI's max_tokens is optional): the reservation's output. */
export const MAX_TOKENS_UNSAID = 4096;

/**
 * `"max`: one native scan finds every candidate key (`"max_…` and Gemini's `"maxOutputTokens"`); the rest of each key
 * is compared in place, so a body without a cap is scanned once, not once per spelling.
 */
const PREFIX = Buffer.from('"max');
/** Gemini's `generationConfig.maxOutputTokens`, after PREFIX. */
const GEMINI = Buffer.from('OutputTokens"');
/** After PREFIX: `max_tokens`, `max_completion_tokens`, `max_output_tokens`. */
const SUFFIXES = [Buffer.from('_tokens"'), Buffer.from('_completion_tokens"'), Buffer.from('_output_tokens"')];

/**
 * The request's output cap (`max_tokens`, `max_completion_tokens`, `max_output_tokens`, Gemini's
 * `maxOutputTokens`), read where it stands in the body (one indexOf per `"max` and a few digits; only for users or
 * keys with a budget or a tpm limit), else MAX_TOKENS_UNSAID. A `max_…` key wins over Gemini's wherever they stand.
 */
export function maxOutputTokens(body: Buffer): number {
  // The first Gemini key decides (as a number or not), unless a `max_…` cap stands anywhere.
  let gemini = -1;
  let geminiSeen = false;
  let at = body.indexOf(PREFIX);
  while (at !== -1) {
    const from = at + PREFIX.length;
    if (from < body.length && body[from] === 0x5f) {
      for (let k = 0; k < SUFFIXES.length; k++) {
        const end = keyEnd(body, from, SUFFIXES[k]!);
        if (end !== -1) {
          const n = digitsAt(body, end);
          if (n !== -1) return n;
        }
      }
    } else if (!geminiSeen) {
      const end = keyEnd(body, from, GEMINI);
      if (end !== -1) {
        geminiSeen = true;
        gemini = digitsAt(body, end);
      }
    }
    at = body.indexOf(PREFIX, from);
  }
  return gemini === -1 ? MAX_TOKENS_UNSAID : gemini;
}

/** The index after `rest` when it stands at `from`, else -1. */
function keyEnd(body: Buffer, from: number, rest: Buffer): number {
  const end = from + rest.length;
  return end <= body.length && body.compare(rest, 0, rest.length, from, end) === 0 ? end : -1;
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
