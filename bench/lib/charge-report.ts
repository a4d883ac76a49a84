/**
 * The relay bench's many-streams rounds compared at equal charge (bench/lib/charge-fit.ts): per stream count, a
 * note with the fit over every path's rounds and, for each of `paths` against each of `others`, the ratio of their
 * CPU per GiB at the run's median shares. The medians over all rounds stay the figures; this says how much
 * of their difference is the kernel's charge.
 */
import type { BenchMetric, BenchRatio } from '../types.js';
import { fitCharge, type ChargedWindow } from './charge-fit.js';
import { samplesOf } from './metric.js';

export function chargeReport(
  list: readonly BenchMetric[], streamsList: readonly string[], paths: readonly string[], others: readonly string[],
): { ratios: BenchRatio[]; notes: string[] } {
  const samples = (name: string, path: string): readonly number[] => samplesOf(list, name, path) ?? [];
  const ratios: BenchRatio[] = [];
  const notes: string[] = [];
  const measured = [...new Set(list.map((m) => m.path))].filter((p) => paths.includes(p) || others.includes(p));
  for (const streams of streamsList) {
    const windows: ChargedWindow[] = [];
    for (const path of measured) {
      const cpu = samples(`${streams}.cpuPerGiB`, path);
      const inShares = samples(`${streams}.receivedOnRelayIn`, path);
      const outShares = samples(`${streams}.receivedOnRelayOut`, path);
      if (cpu.length === 0 || inShares.length !== cpu.length || outShares.length !== cpu.length) continue;
      cpu.forEach((c, i) => windows.push({
        path, cpuPerGiB: c, inShare: inShares[i] as number, outShare: outShares[i] as number,
      }));
    }
    if (windows.length === 0) continue;
    const fit = fitCharge(windows);
    if (fit === undefined) {
      notes.push(`${streams} at equal charge: n/a (${windows.length} rounds with shares: too few, or too alike)`);
      continue;
    }
    if (fit.perIn < 0 || fit.perOut < 0) {
      // A charge that lowers the relay's CPU is no charge: something else (losses, resends) set these rounds' cost.
      notes.push(`${streams} at equal charge: n/a (the shares do not explain these rounds: fit slopes ` +
        `${fit.perIn.toFixed(3)} / ${fit.perOut.toFixed(3)}, R² ${fit.r2.toFixed(2)})`);
      continue;
    }
    const own = [...fit.own].map(([p, v]) => `${p} ${v.toFixed(3)}`).join(', ');
    notes.push(`${streams} relay CPU per GiB against the share of the hops' segments received on the relay's threads ` +
      `(bench/lib/softirq-charge.ts), fit over ${fit.windows} rounds: R² ${fit.r2.toFixed(2)}, ` +
      `${fit.perIn.toFixed(3)} CPU-s/GiB per unit of the source hop's share, ${fit.perOut.toFixed(3)} of the sink ` +
      `hop's; with no charge ${own}; compared at the run's median shares ${fit.medianIn.toFixed(2)} / ` +
      `${fit.medianOut.toFixed(2)}`);
    for (const path of paths) {
      const a = fit.atMedianCharge.get(path);
      if (a === undefined) continue;
      for (const other of others) {
        const b = fit.atMedianCharge.get(other);
        if (b === undefined || b <= 0) continue;
        ratios.push({ name: `${path} / ${other} ${streams} CPU per GiB at equal charge (fit, R² ${fit.r2.toFixed(2)})`,
          value: a / b });
      }
    }
  }
  return { ratios, notes };
}
