import type { QuotaConfig } from '../config/schema.js';

/** Milliseconds since the epoch; injectable so tests can cross period boundaries without waiting. */
export type Clock = () => number;

export const systemClock: Clock = Date.now;

/** The period key of totals that never reset. */
export const ALL_TIME = 'all';

interface ZoneCache {
  readonly format: Intl.DateTimeFormat;
  /** The second the cached keys were computed for: a boundary is seen within one second. */
  second: number;
  day: string;
  month: string;
}

const zones = new Map<string, ZoneCache>();

function zone(timezone: string): ZoneCache {
  let z = zones.get(timezone);
  if (z === undefined) {
    const format = new Intl.DateTimeFormat('en-CA', {
      timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit',
    });
    z = { format, second: -1, day: '', month: '' };
    zones.set(timezone, z);
  }
  return z;
}

/**
 * The key of the quota period that `now` falls in, in the quota's time zone: `all` (no reset), `d:2026-11-22`
 * (daily) or `m:2026-11` (monthly). Cached per zone and second, so callers may ask on every sample.
 */
export function periodKey(quota: QuotaConfig | null, now: number): string {
  if (quota === null || quota.period === 'none') return ALL_TIME;
  const z = zone(quota.timezone);
  const second = Math.floor(now / 1000);
  if (second !== z.second) {
    let year = '';
    let month = '';
    let day = '';
    for (const part of z.format.formatToParts(now)) {
      if (part.type === 'year') year = part.value;
      else if (part.type === 'month') month = part.value;
      else if (part.type === 'day') day = part.value;
    }
    z.second = second;
    z.month = `m:${year}-${month}`;
    z.day = `d:${year}-${month}-${day}`;
  }
  return quota.period === 'daily' ? z.day : z.month;
}
