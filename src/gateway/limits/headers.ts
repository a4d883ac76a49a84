import type { Family } from '../routing/endpoints.js';
import type { RateLimiter } from './rate-limiter.js';
import { WINDOW_MS } from './window.js';

/**
 * The rate-limit headers of an answer (refused or served), as the provider of the endpoint's family sends them:
 * OpenAI's `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` (reset as a duration, `6s`, `1m2s`, `200ms`) or
 * Anthropic's `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}` (reset as an RFC 3339 time). Only the
 * limits configured are said; a flat name/value list for writeHead, written into `out` from `at` (returns the
 * end). Names are constants, limit texts and reset texts are cached on the limiter (per config and per window), so
 * a served answer formats only the two remainders.
 */
export function rateHeaders(family: Family, limiter: RateLimiter, now: number, out: string[], at: number): number {
  const c = limiter.config;
  const texts = limiter.texts(now);
  const anthropic = family === 'anthropic';
  if (c.rpm !== null) {
    out[at++] = anthropic ? A_LIMIT_REQ : O_LIMIT_REQ;
    out[at++] = texts.rpm;
    out[at++] = anthropic ? A_REMAINING_REQ : O_REMAINING_REQ;
    out[at++] = String(Math.max(0, Math.floor(c.rpm - limiter.requests.estimate(now))));
    out[at++] = anthropic ? A_RESET_REQ : O_RESET_REQ;
    out[at++] = anthropic ? texts.anthropicReset : duration(limiter.requests.start + WINDOW_MS - now);
  }
  if (c.tpm !== null) {
    out[at++] = anthropic ? A_LIMIT_TOK : O_LIMIT_TOK;
    out[at++] = texts.tpm;
    out[at++] = anthropic ? A_REMAINING_TOK : O_REMAINING_TOK;
    out[at++] = String(Math.max(0, Math.floor(c.tpm - limiter.tokens.estimate(now))));
    out[at++] = anthropic ? A_RESET_TOK : O_RESET_TOK;
    out[at++] = anthropic ? texts.anthropicReset : duration(limiter.tokens.start + WINDOW_MS - now);
  }
  return at;
}

const O_LIMIT_REQ = 'x-ratelimit-limit-requests';
const O_REMAINING_REQ = 'x-ratelimit-remaining-requests';
const O_RESET_REQ = 'x-ratelimit-reset-requests';
const O_LIMIT_TOK = 'x-ratelimit-limit-tokens';
const O_REMAINING_TOK = 'x-ratelimit-remaining-tokens';
const O_RESET_TOK = 'x-ratelimit-reset-tokens';
const A_LIMIT_REQ = 'anthropic-ratelimit-requests-limit';
const A_REMAINING_REQ = 'anthropic-ratelimit-requests-remaining';
const A_RESET_REQ = 'anthropic-ratelimit-requests-reset';
const A_LIMIT_TOK = 'anthropic-ratelimit-tokens-limit';
const A_REMAINING_TOK = 'anthropic-ratelimit-tokens-remaining';
const A_RESET_TOK = 'anthropic-ratelimit-tokens-reset';

/** `1s` … `1m0s`: a window is one minute, so every whole-second reset text is made once. */
const SECONDS: string[] = [];
for (let s = 0; s <= 60; s++) SECONDS.push(s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${s % 60}s`);

/** A Go-style duration as OpenAI writes it: `200ms`, `6s`, `1m2s`. */
export function duration(ms: number): string {
  if (ms <= 0) return '0ms';
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const s = Math.ceil(ms / 1000);
  if (s <= 60) return SECONDS[s]!;
  return `${Math.floor(s / 60)}m${s % 60}s`;
}
