import type { Family } from '../routing/endpoints.js';
import type { RateLimiter } from './rate-limiter.js';
import { WINDOW_MS } from './window.js';

/**
 * The rate-limit headers of an answer (refused or served), as the provider of the endpoint's family sends them:
 * OpenAI's `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` (reset as a duration, `6s`, `1m2s`, `200ms`) or
 * Anthropic's `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}` (reset as an RFC 3339 time). Only the
 * limits configured are said; a flat name/value list for writeHead.
 */
export function rateHeaders(family: Family, limiter: RateLimiter, now: number, out: string[]): void {
  const c = limiter.config;
  if (c.rpm !== null) {
    const remaining = Math.max(0, Math.floor(c.rpm - limiter.requests.estimate(now)));
    push(family, 'requests', c.rpm, remaining, resetMs(limiter, now, 'requests'), now, out);
  }
  if (c.tpm !== null) {
    const remaining = Math.max(0, Math.floor(c.tpm - limiter.tokens.estimate(now)));
    push(family, 'tokens', c.tpm, remaining, resetMs(limiter, now, 'tokens'), now, out);
  }
}

/** Until the current minute window ends (the sliding minute then holds this window's counts, fading). */
function resetMs(limiter: RateLimiter, now: number, which: 'requests' | 'tokens'): number {
  const w = which === 'requests' ? limiter.requests : limiter.tokens;
  return Math.max(0, w.start + WINDOW_MS - now);
}

function push(
  family: Family, what: 'requests' | 'tokens', limit: number, remaining: number, reset: number, now: number,
  out: string[],
): void {
  if (family === 'anthropic') {
    const p = `anthropic-ratelimit-${what}-`;
    out.push(p + 'limit', String(limit), p + 'remaining', String(remaining),
      p + 'reset', new Date(now + reset).toISOString().replace(/\.\d{3}Z$/, 'Z'));
    return;
  }
  out.push(`x-ratelimit-limit-${what}`, String(limit), `x-ratelimit-remaining-${what}`, String(remaining),
    `x-ratelimit-reset-${what}`, duration(reset));
}

/** A Go-style duration as OpenAI writes it: `200ms`, `6s`, `1m2s`. */
function duration(ms: number): string {
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const s = Math.ceil(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${s % 60}s`;
}
