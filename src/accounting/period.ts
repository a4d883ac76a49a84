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
  if (quota.period === 'daily') return z.day;
  return quota.resetDay > 1 ? monthFrom(z.day, quota.resetDay) : z.month;
}

/**
 * The monthly period that starts on `resetDay`: `m:2026-11@15` from Nov 15 to Dec 14. A day before the reset day
 * belongs to the period that began the month before.
 */
function monthFrom(day: string, resetDay: number): string {
  let year = Number(day.slice(2, 6));
  let month = Number(day.slice(7, 9));
  if (Number(day.slice(10, 12)) < resetDay) {
    month--;
    if (month === 0) {
      month = 12;
      year--;
    }
  }
  return `m:${year}-${month < 10 ? '0' : ''}${month}@${resetDay}`;
}
