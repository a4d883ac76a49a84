/**
 * A relay's own CPU per GiB, set apart from the kernel's charge (bench/lib/softirq-charge.ts). At 100 streams on
 * loopback the relay's CPU per GiB follows how much of its neighbours' TCP work ran on its threads; over a run's
 * windows a least-squares fit
 *
 *   relay CPU per GiB = own(path) + perIn * in-share + perOut * out-share
 *
 * (one intercept per path, slopes shared: the kernel's work per segment is the relays' alike) says what each relay
 * costs at the same charge. `atMedianCharge` compares relays at the run's median shares, which stays inside the
 * measured range (the intercepts extrapolate to no charge at all).
 */
import { median } from '../stats.js';

export interface ChargedWindow {
  readonly path: string;
  readonly cpuPerGiB: number;
  readonly inShare: number;
  readonly outShare: number;
}

export interface ChargeFit {
  /** Per path: its CPU per GiB with no charge (the fit's intercept). */
  readonly own: ReadonlyMap<string, number>;
  readonly perIn: number;
  readonly perOut: number;
  /** Share of the windows' variance the fit explains. */
  readonly r2: number;
  readonly windows: number;
  readonly medianIn: number;
  readonly medianOut: number;
  /** Per path: the fit's CPU per GiB at the run's median shares. */
  readonly atMedianCharge: ReadonlyMap<string, number>;
}

/** Solves A x = b by Gaussian elimination with partial pivoting; undefined when A is (nearly) singular. */
export function solve(a: number[][], b: number[]): number[] | undefined {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i] as number]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) {
      if (Math.abs((m[r] as number[])[col] as number) > Math.abs((m[pivot] as number[])[col] as number)) pivot = r;
    }
    const top = m[pivot] as number[];
    if (Math.abs(top[col] as number) < 1e-9) return undefined;
    [m[col], m[pivot]] = [top, m[col] as number[]];
    const row = m[col] as number[];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const other = m[r] as number[];
      const f = (other[col] as number) / (row[col] as number);
      for (let c = col; c <= n; c++) other[c] = (other[c] as number) - f * (row[c] as number);
    }
  }
  return m.map((row, i) => (row[n] as number) / (row[i] as number));
}

/**
 * The fit over `windows`; undefined with too few windows (each path needs two, and twice as many as the unknowns in
 * all: fewer leave the slopes to chance) or shares that do not vary enough to tell the slopes apart.
 */
export function fitCharge(windows: readonly ChargedWindow[]): ChargeFit | undefined {
  const paths = [...new Set(windows.map((w) => w.path))];
  const k = paths.length + 2;
  if (windows.length < 2 * k || paths.some((p) => windows.filter((w) => w.path === p).length < 2)) return undefined;
  const row = (w: ChargedWindow): number[] => [...paths.map((p) => (p === w.path ? 1 : 0)), w.inShare, w.outShare];
  const xtx = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const xty = new Array<number>(k).fill(0);
  for (const w of windows) {
    const x = row(w);
    for (let i = 0; i < k; i++) {
      const xi = x[i] as number;
      const xtxRow = xtx[i] as number[];
      xty[i] = (xty[i] as number) + xi * w.cpuPerGiB;
      for (let j = 0; j < k; j++) xtxRow[j] = (xtxRow[j] as number) + xi * (x[j] as number);
    }
  }
  const beta = solve(xtx, xty);
  if (beta === undefined) return undefined;
  const predict = (w: ChargedWindow): number => row(w).reduce((s, x, i) => s + x * (beta[i] as number), 0);
  const mean = windows.reduce((s, w) => s + w.cpuPerGiB, 0) / windows.length;
  const total = windows.reduce((s, w) => s + (w.cpuPerGiB - mean) ** 2, 0);
  const residual = windows.reduce((s, w) => s + (w.cpuPerGiB - predict(w)) ** 2, 0);
  const perIn = beta[paths.length] as number;
  const perOut = beta[paths.length + 1] as number;
  const medianIn = median(windows.map((w) => w.inShare));
  const medianOut = median(windows.map((w) => w.outShare));
  const own = new Map(paths.map((p, i) => [p, beta[i] as number]));
  return {
    own, perIn, perOut, r2: total === 0 ? 0 : 1 - residual / total, windows: windows.length, medianIn, medianOut,
    atMedianCharge: new Map(paths.map((p) => [p, (own.get(p) as number) + perIn * medianIn + perOut * medianOut])),
  };
}
