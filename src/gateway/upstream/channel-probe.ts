import { request } from 'undici';
import type { ChannelHealthConfig, ChannelKind } from '../../config/schema.js';
import type { Probe } from '../../health/health-check.js';
import type { Channel } from './channel.js';
import { probeHeaders } from './request.js';

/** Where a check without `path` asks: the kind's model list under the channel's base path. */
const MODEL_LISTS: Readonly<Record<ChannelKind, string>> = {
  openai: '/models', anthropic: '/v1/models', gemini: '/v1beta/models',
};

/**
 * A channel's active check: `method path` on its origin with its auth headers (the next usable credential, if any)
 * and the configured body; 2xx and 3xx answers are good, anything else or no answer in time is a failed check.
 * Runs on undici's global dispatcher, not the channel's pool: a check never waits behind real requests.
 */
export function channelProbe(channel: Channel, config: ChannelHealthConfig): Probe {
  const url = channel.origin + (config.path ?? channel.basePath + MODEL_LISTS[channel.kind]);
  return async function checkChannel(signal: AbortSignal): Promise<void> {
    const credential = channel.keys.next(Date.now());
    const res = await request(url, {
      method: config.method,
      headers: probeHeaders(channel, credential),
      body: config.body,
      signal,
    });
    await res.body.dump();
    if (res.statusCode >= 400) throw new Error(`HTTP ${res.statusCode}`);
  };
}
