/** What a request may produce when it does not say (OpenAI's max_tokens is optional): the reservation's output. */
export const MAX_TOKENS_UNSAID = 4096;

const KEYS = [Buffer.from('"max_tokens"'), Buffer.from('"max_completion_tokens"'), Buffer.from('"max_output_tokens"')];

/**
 * The request's output cap (`max_tokens`, `max_completion_tokens`, `max_output_tokens`), read where it stands in the
 * body (an indexOf and a few digits; only for users with a budget), else MAX_TOKENS_UNSAID.
 */
export function maxOutputTokens(body: Buffer): number {
  for (let k = 0; k < KEYS.length; k++) {
    const key = KEYS[k]!;
    const at = body.indexOf(key);
    if (at === -1) continue;
    let i = at + key.length;
    while (i < body.length && isSpaceOrColon(body[i]!)) i++;
    let n = 0;
    const start = i;
    while (i < body.length && body[i]! >= 0x30 && body[i]! <= 0x39 && i - start < 12) n = n * 10 + (body[i++]! - 0x30);
    if (i > start) return n;
  }
  return MAX_TOKENS_UNSAID;
}

function isSpaceOrColon(b: number): boolean {
  return b === 0x20 || b === 0x3a || b === 0x0a || b === 0x0d || b === 0x09;
}
