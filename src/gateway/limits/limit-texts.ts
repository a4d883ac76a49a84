import { WINDOW_MS } from './window.js';

/** The texts of a limiter that change only with its config or its window (see RateLimiter.texts). */
export class LimitTexts {
  rpm = '';
  tpm = '';
  /** The current window's end as RFC 3339 (Anthropic's reset). */
  anthropicReset = '';
  windowStart = -1;
  config: unknown = null;

  refresh(rpm: number | null, tpm: number | null, config: unknown, windowStart: number): void {
    if (config !== this.config) {
      this.config = config;
      this.rpm = rpm === null ? '' : String(rpm);
      this.tpm = tpm === null ? '' : String(tpm);
    }
    if (windowStart !== this.windowStart) {
      this.windowStart = windowStart;
      this.anthropicReset = new Date(windowStart + WINDOW_MS).toISOString().replace(/\.\d{3}Z$/, 'Z');
    }
  }
}
