/**
 * Parsing of the human units the config accepts: sizes (`10MiB`, `1.5GB`), durations (`45s`, `1h30m`, `250ms`)
 * and rates (`10MiB/s`). Each returns `undefined` for text it cannot read so the validator can report the path.
 */

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  ki: 1024, kib: 1024, mi: 1024 ** 2, mib: 1024 ** 2, gi: 1024 ** 3, gib: 1024 ** 3, ti: 1024 ** 4, tib: 1024 ** 4,
};

const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i;

/** Bytes from a number or a size string; `undefined` when unreadable or negative. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const m = SIZE_RE.exec(value);
  if (!m) return undefined;
  const unit = SIZE_UNITS[m[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  return Math.floor(Number(m[1]) * unit);
}

/** Bytes per second from `10MiB/s`, `10MiB` or a number. */
export function parseRate(value: unknown): number | undefined {
  if (typeof value === 'string') {
    const trimmed = value.trim();
    const slash = trimmed.toLowerCase().endsWith('/s') ? trimmed.slice(0, -2) : trimmed;
    return parseSize(slash);
  }
  return parseSize(value);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;

/** Milliseconds from a number (already ms) or a duration string like `45s` or `1h30m`. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim().toLowerCase();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  let total = 0;
  DURATION_PART.lastIndex = 0;
  let consumed = 0;
  for (let m = DURATION_PART.exec(text); m; m = DURATION_PART.exec(text)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    consumed = DURATION_PART.lastIndex;
  }
  return consumed === text.length ? total : undefined;
}

/** `1.5 GiB` style rendering for logs and the CLI. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(2)} ${units[i]}`;
}
