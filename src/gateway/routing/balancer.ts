import type { Channel } from '../upstream/channel.js';
import type { Route } from './router.js';

/**
 * Picks one channel of a route among those available now and not yet tried by this request. Strategies:
 * - `priority`: the highest `priority` tier that has an available channel; inside it, smooth weighted round-robin.
 * - `weighted`: smooth weighted round-robin (nginx's): exact proportions, no clumping, deterministic.
 * - `round-robin`: the next available channel after the route's cursor.
 * - `least-in-flight`: fewest requests in flight; ties rotate.
 * - `lowest-latency`: lowest time-to-first-byte EWMA; channels without a sample yet are tried first.
 * Loops over the route's channel array, no allocation.
 */
export function pickChannel(route: Route, now: number, tried: readonly Channel[]): Channel | null {
  switch (route.strategy) {
    case 'priority':
      return pickPriority(route, now, tried);
    case 'weighted':
      return pickWeighted(route, now, tried, Number.NEGATIVE_INFINITY);
    case 'round-robin':
      return pickRoundRobin(route, now, tried);
    case 'least-in-flight':
      return pickLeastInFlight(route, now, tried);
    case 'lowest-latency':
      return pickLowestLatency(route, now, tried);
  }
}

function usable(c: Channel, now: number, tried: readonly Channel[]): boolean {
  return (tried.length === 0 || !tried.includes(c)) && c.available(now);
}

function pickPriority(route: Route, now: number, tried: readonly Channel[]): Channel | null {
  const channels = route.channels;
  let best = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < channels.length; i++) {
    const c = channels[i]!;
    if (c.priority > best && usable(c, now, tried)) best = c.priority;
  }
  if (best === Number.NEGATIVE_INFINITY) return null;
  return pickWeighted(route, now, tried, best);
}

/** Smooth weighted round-robin over usable channels (of one priority tier when `tier` is finite). */
function pickWeighted(route: Route, now: number, tried: readonly Channel[], tier: number): Channel | null {
  const channels = route.channels;
  const current = route.currentWeights;
  let total = 0;
  let chosen = -1;
  for (let i = 0; i < channels.length; i++) {
    const c = channels[i]!;
    if (tier !== Number.NEGATIVE_INFINITY && c.priority !== tier) continue;
    if (!usable(c, now, tried)) continue;
    // A zero weight still gets picked when it is the only one left.
    const w = c.weight > 0 ? c.weight : 1e-9;
    current[i]! += w;
    total += w;
    if (chosen === -1 || current[i]! > current[chosen]!) chosen = i;
  }
  if (chosen === -1) return null;
  current[chosen]! -= total;
  return channels[chosen]!;
}

function pickRoundRobin(route: Route, now: number, tried: readonly Channel[]): Channel | null {
  const channels = route.channels;
  const n = channels.length;
  for (let k = 0; k < n; k++) {
    const i = (route.cursor + k) % n;
    const c = channels[i]!;
    if (usable(c, now, tried)) {
      route.cursor = (i + 1) % n;
      return c;
    }
  }
  return null;
}

function pickLeastInFlight(route: Route, now: number, tried: readonly Channel[]): Channel | null {
  return pickLowest(route, now, tried, inFlightScore);
}

function pickLowestLatency(route: Route, now: number, tried: readonly Channel[]): Channel | null {
  return pickLowest(route, now, tried, latencyScore);
}

function inFlightScore(c: Channel): number {
  return c.inFlight;
}

/** No sample yet beats any sample: every channel gets measured once. */
function latencyScore(c: Channel): number {
  return c.latencySamples === 0 ? -1 : c.latencyEwma;
}

/** The usable channel with the lowest score; ties go to the first after the cursor, so equal channels rotate. */
function pickLowest(
  route: Route, now: number, tried: readonly Channel[], score: (c: Channel) => number,
): Channel | null {
  const channels = route.channels;
  const n = channels.length;
  let chosen: Channel | null = null;
  let chosenScore = 0;
  let chosenAt = 0;
  for (let k = 0; k < n; k++) {
    const i = (route.cursor + k) % n;
    const c = channels[i]!;
    if (!usable(c, now, tried)) continue;
    const cScore = score(c);
    if (chosen === null || cScore < chosenScore) {
      chosen = c;
      chosenScore = cScore;
      chosenAt = i;
    }
  }
  if (chosen !== null) route.cursor = (chosenAt + 1) % n;
  return chosen;
}
