import { GeoDatabaseError } from '../errors.js';
import { ipv6PrefixEnd, ipv6PrefixStart, parseIp, type IpKey } from '../util/ip.js';
import { contentLines } from '../util/lines.js';

/**
 * Sorted, non-overlapping address ranges with a country each, answered by binary search. Built from CIDR lists
 * (chnroutes-style, one country per file) or "start end [country]" / "start,end,country" range files.
 */
export class RangeTable {
  private readonly v4Start: Float64Array;
  private readonly v4End: Float64Array;
  private readonly v4Country: string[];
  private readonly v6Start: string[];
  private readonly v6End: string[];
  private readonly v6Country: string[];

  constructor(entries: readonly RangeEntry[]) {
    const v4 = entries.filter((e) => e.v === 4) as RangeV4[];
    const v6 = entries.filter((e) => e.v === 6) as RangeV6[];
    v4.sort((a, b) => a.start - b.start || a.end - b.end);
    v6.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    const m4 = mergeV4(v4);
    const m6 = mergeV6(v6);
    this.v4Start = Float64Array.from(m4, (e) => e.start);
    this.v4End = Float64Array.from(m4, (e) => e.end);
    this.v4Country = m4.map((e) => e.country);
    this.v6Start = m6.map((e) => e.start);
    this.v6End = m6.map((e) => e.end);
    this.v6Country = m6.map((e) => e.country);
  }

  get size(): number {
    return this.v4Start.length + this.v6Start.length;
  }

  lookup(key: IpKey): string | null {
    if (key.v === 4) {
      const s = this.v4Start;
      let lo = 0;
      let hi = s.length - 1;
      let found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        if (s[mid]! <= key.n) { found = mid; lo = mid + 1; } else hi = mid - 1;
      }
      return found >= 0 && this.v4End[found]! >= key.n ? this.v4Country[found]! : null;
    }
    const s = this.v6Start;
    let lo = 0;
    let hi = s.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]! <= key.hex) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return found >= 0 && this.v6End[found]! >= key.hex ? this.v6Country[found]! : null;
  }
}

interface RangeV4 { v: 4; start: number; end: number; country: string }
interface RangeV6 { v: 6; start: string; end: string; country: string }
export type RangeEntry = RangeV4 | RangeV6;

/** Overlaps keep the earlier range's country for the overlapping part (adjacent same-country ranges merge). */
function mergeV4(sorted: RangeV4[]): RangeV4[] {
  const out: RangeV4[] = [];
  for (const e of sorted) {
    const last = out[out.length - 1];
    if (last && e.start <= last.end) {
      if (e.end <= last.end) continue;
      if (e.country === last.country) { last.end = e.end; continue; }
      out.push({ v: 4, start: last.end + 1, end: e.end, country: e.country });
      continue;
    }
    if (last && e.start === last.end + 1 && e.country === last.country) { last.end = e.end; continue; }
    out.push({ ...e });
  }
  return out;
}

function mergeV6(sorted: RangeV6[]): RangeV6[] {
  const out: RangeV6[] = [];
  for (const e of sorted) {
    const last = out[out.length - 1];
    if (last && e.start <= last.end) {
      if (e.end <= last.end) continue;
      if (e.country === last.country) { last.end = e.end; continue; }
      out.push({ v: 6, start: incHex(last.end), end: e.end, country: e.country });
      continue;
    }
    out.push({ ...e });
  }
  return out;
}

function incHex(hex: string): string {
  const digits = hex.split('');
  for (let i = digits.length - 1; i >= 0; i--) {
    const d = parseInt(digits[i]!, 16);
    if (d < 15) { digits[i] = (d + 1).toString(16); break; }
    digits[i] = '0';
  }
  return digits.join('');
}

const COUNTRY_RE = /^[A-Za-z]{2}$/;

/**
 * Parses a list file. Each non-empty, non-comment (`#`, `;`) line is `CIDR [CC]`, `start end [CC]` or
 * `start,end,CC`. Lines without a country take `country` (the list's configured country); a line that cannot be
 * read is an error naming the file and line, never silently skipped.
 */
export function parseRangeList(text: string, file: string, country: string | null): RangeEntry[] {
  const out: RangeEntry[] = [];
  for (const { text: line, lineNo } of contentLines(text, /[#;]/)) {
    const fields = line.split(/[\s,]+/);
    const entry = parseLine(fields, country);
    if (typeof entry === 'string') {
      throw new GeoDatabaseError(file, `line ${lineNo}: ${entry} ("${line.slice(0, 80)}")`);
    }
    out.push(entry);
  }
  return out;
}

function parseLine(fields: string[], listCountry: string | null): RangeEntry | string {
  const first = fields[0]!;
  const slash = first.indexOf('/');
  let cc: string | undefined;
  let start: IpKey | null;
  let end: IpKey | null;
  if (slash !== -1) {
    const prefix = Number(first.slice(slash + 1));
    start = parseIp(first.slice(0, slash));
    if (!start) return 'expected an address before "/"';
    const max = start.v === 4 ? 32 : 128;
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || first.slice(slash + 1) === '') {
      return `expected a prefix length 0-${max}`;
    }
    cc = fields[1];
    if (fields.length > 2) return 'expected "CIDR [country]"';
    if (start.v === 4) {
      const size = 2 ** (32 - prefix);
      const s = Math.floor(start.n / size) * size;
      start = { v: 4, n: s };
      end = { v: 4, n: s + size - 1 };
    } else {
      const s = ipv6PrefixStart(start.hex, prefix);
      start = { v: 6, hex: s };
      end = { v: 6, hex: ipv6PrefixEnd(s, prefix) };
    }
  } else {
    if (fields.length < 2 || fields.length > 3) return 'expected "CIDR [country]" or "start end [country]"';
    start = parseIp(first);
    end = parseIp(fields[1]!);
    cc = fields[2];
    if (!start || !end) return 'expected IP addresses';
    if (start.v !== end.v) return 'start and end are of different IP versions';
    if (start.v === 4 ? start.n > (end as { n: number }).n : start.hex > (end as { hex: string }).hex) {
      return 'start is after end';
    }
  }
  const country = cc ?? listCountry;
  if (!country) return 'expected a country code after the range';
  if (!COUNTRY_RE.test(country)) return `expected a two-letter country code, got "${country}"`;
  const c = country.toUpperCase();
  if (start.v === 4) return { v: 4, start: start.n, end: (end as { n: number }).n, country: c };
  return { v: 6, start: start.hex, end: (end as { hex: string }).hex, country: c };
}
