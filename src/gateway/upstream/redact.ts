/**
 * Takes a channel's own secrets (API keys, OAuth access tokens) out of text an upstream sent, before the text reaches
 * a client or a log: error bodies passed through or quoted, converted stream error events. Only error text of
 * bounded size goes through here; a successful answer never does.
 *
 * What is replaced by `[redacted]`:
 * - every occurrence of a secret (a secret shorter than MIN_SECRET only as a whole token: `k` is not a key);
 * - masked forms upstreams print, `sk-proj-****abcd`, `sk-abc...wxyz`, `…wxyz`: a visible head that starts a secret
 *   and a visible tail that ends the same secret around `***`, `...`, `…` or `•••`, 4 visible characters or more;
 * - fragments: a run of MIN_FRAGMENT or more key characters found inside a secret (a key cut short).
 */
export const REDACTED = '[redacted]';

/** Secrets shorter than this are test placeholders: matched only as whole tokens, never by their parts. */
const MIN_SECRET = 8;
/** A shorter run of key characters is not evidence of a key (request ids and words are not checked below it). */
const MIN_FRAGMENT = 12;
/** Visible characters a masked form must show to be taken as one of the secrets. */
const MIN_VISIBLE = 4;

const MASKED = /([A-Za-z0-9_-]*)(?:\*{3,}|\.{3,}|…+|•{3,})([A-Za-z0-9_-]*)/g;
const FRAGMENT = /[A-Za-z0-9_-]{12,}/g;

export function redactSecrets(text: string, secrets: readonly string[]): string {
  if (secrets.length === 0 || text.length === 0) return text;
  let out = text;
  for (const s of secrets) {
    if (s.length > 0 && out.includes(s)) {
      out = s.length >= MIN_SECRET ? out.split(s).join(REDACTED) : replaceWholeTokens(out, s);
    }
  }
  out = out.replace(MASKED, function maskedForm(match: string, head: string, tail: string): string {
    if (head.length + tail.length < MIN_VISIBLE) return match;
    for (const s of secrets) {
      if (s.length >= MIN_SECRET && head.length + tail.length < s.length && s.startsWith(head) && s.endsWith(tail)) {
        return REDACTED;
      }
    }
    return match;
  });
  return out.replace(FRAGMENT, function fragment(match: string): string {
    if (match.length < MIN_FRAGMENT) return match;
    for (const s of secrets) if (s.length >= MIN_SECRET && s.includes(match)) return REDACTED;
    return match;
  });
}

/** Replaces `secret` where it stands as a whole token (not inside a longer run of key characters). */
function replaceWholeTokens(text: string, secret: string): string {
  let out = '';
  let from = 0;
  for (let at = text.indexOf(secret); at !== -1; at = text.indexOf(secret, at + secret.length)) {
    const before = at === 0 ? '' : text[at - 1]!;
    const after = text[at + secret.length] ?? '';
    if (isKeyChar(before) || isKeyChar(after)) continue;
    out += text.slice(from, at) + REDACTED;
    from = at + secret.length;
  }
  return out + text.slice(from);
}

function isKeyChar(c: string): boolean {
  return c.length === 1 && /[A-Za-z0-9_-]/.test(c);
}
