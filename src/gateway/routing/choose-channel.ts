import type { Channel } from '../upstream/channel.js';
import type { AffinityTable } from './affinity.js';
import { pickChannel } from './balancer.js';
import type { Route } from './router.js';

/** What channel choice reads (the GatewayCore). */
export interface ChannelSource {
  readonly affinity: AffinityTable;
  readonly channels: ReadonlyMap<string, Channel>;
}

/**
 * The channel for an attempt: on the first one, the channel this session used last (while it is still in the route
 * and can take requests now; else the session's entry is dropped), otherwise the route's strategy.
 */
export function chooseChannel(
  source: ChannelSource, route: Route, sessionKey: string | null, first: boolean, tried: readonly Channel[],
  now: number,
): Channel | null {
  if (sessionKey !== null && first) {
    const name = source.affinity.get(sessionKey, now);
    if (name !== null) {
      const c = source.channels.get(name);
      if (c !== undefined && route.channels.includes(c) && c.available(now)) return c;
      source.affinity.drop(sessionKey);
    }
  }
  return pickChannel(route, now, tried);
}
