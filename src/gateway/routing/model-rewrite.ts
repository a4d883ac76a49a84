/**
 * The top-level `"model"` string of a JSON body replaced by another name, every other byte kept (pass-through stays
 * byte-exact apart from the name): one scan that tracks depth and strings, no parse and no re-serialisation, so it
 * is cheap enough inline for bodies of any size. Null when the body has no top-level `"model"` string (Gemini bodies:
 * their model is in the URL).
 */
export function rewriteModel(body: Buffer, model: string): Buffer | null {
  const n = body.length;
  let depth = 0;
  let i = 0;
  while (i < n) {
    const c = body[i]!;
    if (c === QUOTE) {
      const end = stringEnd(body, i);
      if (end < 0) return null;
      if (depth === 1 && end - i === 6 && body.toString('latin1', i + 1, end) === 'model') {
        const value = afterColon(body, end + 1);
        if (value >= 0 && body[value] === QUOTE) {
          const valueEnd = stringEnd(body, value);
          if (valueEnd < 0) return null;
          const name = Buffer.from(JSON.stringify(model));
          return Buffer.concat([body.subarray(0, value), name, body.subarray(valueEnd + 1)]);
        }
      }
      i = end + 1;
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
    i++;
  }
  return null;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** The index of the quote closing the string that opens at `start`, or -1. */
function stringEnd(body: Buffer, start: number): number {
  for (let i = start + 1; i < body.length; i++) {
    const c = body[i]!;
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i;
  }
  return -1;
}

/** The index of the first non-blank byte after the `:` that follows `from` (only blanks before it), or -1. */
function afterColon(body: Buffer, from: number): number {
  let i = skipBlanks(body, from);
  if (body[i] !== COLON) return -1;
  i = skipBlanks(body, i + 1);
  return i < body.length ? i : -1;
}

function skipBlanks(body: Buffer, from: number): number {
  let i = from;
  while (i < body.length && (body[i] === 0x20 || body[i] === 0x0a || body[i] === 0x0d || body[i] === 0x09)) i++;
  return i;
}
