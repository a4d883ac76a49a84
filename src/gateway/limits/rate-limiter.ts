import type { LimitsConfig } from '../../config/types.js';
import { LimitTexts } from './limit-texts.js';
import { SlidingWindow, WINDOW_MS } from './window.js';

/** Why a limit refused: which one, and how long until it would admit. */
export interface LimitRefusal {
  readonly limit: 'rpm' | 'tpm' | 'concurrent';
  readonly retryAfterMs: number;
}

const CONCURRENT: LimitRefusal = { limit: 'concurrent', retryAfterMs: 1000 };

/**
 * The rate limits of one user, key or channel in this process: requests and tokens per minute (sliding windows)
 * and requests at once. A request is admitted while each limit has room; its tokens are reserved at admission (the
 * input estimate + max_tokens) and corrected when it is booked.
 */
export class RateLimiter {
  config: LimitsConfig;
  readonly requests = new SlidingWindow();
  readonly tokens = new SlidingWindow();
  live = 0;
  private readonly cachedTexts = new LimitTexts();

  constructor(config: LimitsConfig) {
    this.config = config;
  }

  /** Header texts of the current config and minute window (made once per window, not per answer). */
  texts(now: number): LimitTexts {
    const c = this.config;
    const t = this.cachedTexts;
    t.refresh(c.rpm, c.tpm, c, now - (now % WINDOW_MS));
    return t;
  }

  /** null when a request may start now; else the limit that refuses it. */
  check(now: number): LimitRefusal | null {
    const c = this.config;
    if (c.concurrent !== null && this.live >= c.concurrent) return CONCURRENT;
    if (c.rpm !== null && this.requests.estimate(now) + 1 > c.rpm) {
      return { limit: 'rpm', retryAfterMs: this.requests.waitMs(now, 1, c.rpm) };
    }
    if (c.tpm !== null && this.tokens.estimate(now) >= c.tpm) {
      return { limit: 'tpm', retryAfterMs: this.tokens.waitMs(now, 1, c.tpm) };
    }
    return null;
  }

  /** Only the `concurrent` limit (the shared windows hold rpm and tpm). */
  checkConcurrent(): LimitRefusal | null {
    const c = this.config.concurrent;
    return c !== null && this.live >= c ? CONCURRENT : null;
  }

  take(now: number, tokens: number): void {
    this.requests.add(1, now);
    this.tokens.add(tokens, now);
    this.live++;
  }

  /** The request ended, `booked` tokens instead of the `reserved` ones. */
  settle(now: number, reserved: number, booked: number): void {
    this.tokens.add(booked - reserved, now);
    this.live--;
  }
}
