import {
  AllChannelsFailedError, UpstreamRateLimitedError, UpstreamStreamError, UpstreamTimeoutError, type GatewayError,
} from '../errors.js';
import type { Attempt } from './upstream/attempt.js';
import type { Channel } from './upstream/channel.js';

/**
 * The failover of one request: classifies how each attempt ended (a rejected status, a connection error or timeout,
 * a stream failure), charges it to the channel, its key and its breaker, and picks the error that answers when no
 * channel is left.
 */
export class Failover {
  /** Channels this request already failed on (the balancer skips them). */
  readonly tried: Channel[] = [];
  lastError: GatewayError | null = null;
  /** Every failure so far was a 429: the answer is a 429 with the shortest Retry-After. */
  rateLimitedOnly = true;
  minRetryAfterMs = Infinity;

  /** A retryable status (429, 5xx, 401/403, 408) was read to its end; `keyRestMs`: how long a refused key rests. */
  rejected(a: Attempt, now: number, keyRestMs: number): void {
    const channel = a.channel;
    const status = a.status;
    // Auth refusals are not quoted: their text can describe the upstream key.
    const detail = status === 401 || status === 403 ? '' : a.rejectText();
    const why = `channel "${channel.name}" answered ${status}${detail ? `: ${detail.slice(0, 300)}` : ''}`;
    if (status === 401 || status === 403) {
      // The credential was refused, not the channel: skip the key for a while; the channel stays eligible.
      channel.keys.refuse(a.credential, now, keyRestMs, `${status}`);
      channel.breaker.onAbandon(a.probe);
      this.rateLimitedOnly = false;
      this.lastError = new AllChannelsFailedError(why);
      return;
    }
    this.tried.push(channel);
    channel.failures++;
    channel.breaker.onFailure(now, a.probe, `HTTP ${status}`, status === 429 ? a.retryAfterMs : null);
    if (status >= 500) channel.trafficFailed(`HTTP ${status}`);
    if (status === 429) {
      if (a.retryAfterMs !== null) this.minRetryAfterMs = Math.min(this.minRetryAfterMs, a.retryAfterMs);
      this.lastError = new UpstreamRateLimitedError(why);
    } else {
      this.rateLimitedOnly = false;
      this.lastError = new AllChannelsFailedError(why);
    }
  }

  /**
   * The upstream failed (connection error, reset, timeout, abort). `midAnswer`: part of the answer went out (or is on
   * its way), so the error ends it and is returned; else it is kept for the final answer and null says: try again.
   */
  failed(a: Attempt, err: Error, midAnswer: boolean): GatewayError | null {
    const channel = a.channel;
    const timeout = err instanceof UpstreamTimeoutError;
    const code = (err as { code?: string }).code;
    const reason = timeout ? err.message : `channel "${channel.name}" failed: ${code ?? err.message}`;
    channel.failures++;
    channel.breaker.onFailure(Date.now(), a.probe, timeout ? 'timeout' : code ?? err.message, null);
    channel.trafficFailed(timeout ? 'timeout' : code ?? err.message);
    if (midAnswer) return timeout ? new UpstreamTimeoutError(reason) : new UpstreamStreamError(reason);
    this.tried.push(channel);
    this.rateLimitedOnly = false;
    this.lastError = timeout ? new UpstreamTimeoutError(reason) : new AllChannelsFailedError(reason);
    return null;
  }

  /** The error that answers when every attempt failed (or no channel could take one). */
  failAll(model: string): GatewayError {
    const last = this.lastError;
    if (last === null) return new AllChannelsFailedError(`every channel for model "${model}" is down or open-circuit`);
    if (last instanceof UpstreamRateLimitedError && this.rateLimitedOnly) {
      const ms = this.minRetryAfterMs;
      if (ms !== Infinity) last.retryAfterSeconds = Math.max(1, Math.ceil(ms / 1000));
      return last;
    }
    if (last instanceof UpstreamTimeoutError) return last;
    return last instanceof AllChannelsFailedError ? last : new AllChannelsFailedError(last.message);
  }
}
