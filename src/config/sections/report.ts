import { DEFAULTS } from '../defaults.js';
import type { ReportConfig } from '../types.js';
import type { Reader } from '../validator.js';

/** `report:`: where per-user and per-service deltas are pushed; null (off) when absent. */
export function readReport(r: Reader, value: unknown): ReportConfig | null {
  if (value === undefined || value === null || value === false || value === 'off') return null;
  const o = r.object('report', value, ['url', 'interval', 'format', 'token', 'maxRetryDelay']);
  const d = DEFAULTS.report;
  const url = r.url('report.url', o.url, ['http', 'https']);
  const intervalMs = r.duration('report.interval', o.interval, d.intervalMs);
  if (intervalMs < 100) r.fail('report.interval', 'expected at least 100ms');
  const token = r.string('report.token', o.token, d.token);
  return {
    url: url ?? new URL('http://127.0.0.1/'),
    intervalMs,
    format: r.oneOf('report.format', o.format, ['tidegate', 'gost'] as const, d.format),
    token: token === '' ? null : token,
    maxRetryDelayMs: r.duration('report.maxRetryDelay', o.maxRetryDelay, d.maxRetryDelayMs),
  };
}
