export { textTable } from './results.js';

/** 0.123 → "+12.3%"; positive means worse in the gate's table. */
export function formatPercent(fraction: number): string {
  if (!Number.isFinite(fraction)) return '-';
  const pct = fraction * 100;
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(1)}%`;
}
