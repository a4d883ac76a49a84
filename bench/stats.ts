/**
 * Small statistics for benches and the perf gate: median, percentiles, mean, sample variance and Welch's
 * unequal-variances t-test (two-sided p-value from the Student t distribution).
 */

export function mean(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('mean of an empty sample');
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Unbiased sample variance (n - 1 in the denominator); 0 for a single value. */
export function variance(values: readonly number[]): number {
  const n = values.length;
  if (n === 0) throw new RangeError('variance of an empty sample');
  if (n === 1) return 0;
  const m = mean(values);
  let sum = 0;
  for (const v of values) sum += (v - m) * (v - m);
  return sum / (n - 1);
}

/**
 * The p-th percentile (0..100) with linear interpolation between closest ranks (the "R7" / Excel definition):
 * percentile([1,2,3,4], 50) = 2.5.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError('percentile of an empty sample');
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  const sorted = [...values].sort(ascending);
  return percentileOfSorted(sorted, p);
}

/** Same as percentile() for an already ascending array (no copy: for large latency samples). */
export function percentileOfSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of an empty sample');
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const low = sorted[lo] as number;
  const high = sorted[hi] as number;
  return low + (high - low) * (rank - lo);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function ascending(a: number, b: number): number {
  return a - b;
}

export interface WelchResult {
  /** t statistic of mean(a) - mean(b). */
  readonly t: number;
  /** Welch–Satterthwaite degrees of freedom. */
  readonly df: number;
  /** Two-sided p-value. */
  readonly p: number;
  readonly meanA: number;
  readonly meanB: number;
}

/**
 * Welch's t-test for two independent samples with possibly unequal variances. Each sample needs at least two
 * values. When both samples have zero variance the test is degenerate: p is 1 if the means are equal, else 0.
 */
export function welchTTest(a: readonly number[], b: readonly number[]): WelchResult {
  if (a.length < 2 || b.length < 2) {
    throw new RangeError(`Welch's t-test needs at least 2 values per sample, got ${a.length} and ${b.length}`);
  }
  const meanA = mean(a);
  const meanB = mean(b);
  const va = variance(a) / a.length;
  const vb = variance(b) / b.length;
  const se2 = va + vb;
  if (se2 === 0) {
    const same = meanA === meanB;
    return {
      t: same ? 0 : meanA > meanB ? Infinity : -Infinity, df: a.length + b.length - 2, p: same ? 1 : 0, meanA, meanB,
    };
  }
  const t = (meanA - meanB) / Math.sqrt(se2);
  const df = (se2 * se2) / ((va * va) / (a.length - 1) + (vb * vb) / (b.length - 1));
  const p = studentTTwoSidedP(t, df);
  return { t, df, p, meanA, meanB };
}

/** Two-sided tail probability P(|T| >= |t|) of Student's t with df degrees of freedom. */
export function studentTTwoSidedP(t: number, df: number): number {
  if (!Number.isFinite(t)) return 0;
  const x = df / (df + t * t);
  return Math.min(1, Math.max(0, regularizedIncompleteBeta(x, df / 2, 0.5)));
}

/** I_x(a, b), the regularized incomplete beta function, by its continued fraction (Lentz's method). */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  const front = Math.exp(lnFront);
  // The continued fraction converges quickly for x < (a+1)/(a+b+2); use the symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-12) break;
  }
  return h;
}

/** ln Γ(z) for z > 0 (Lanczos approximation, g = 7, n = 9). */
export function logGamma(z: number): number {
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - logGamma(1 - z);
  const g = 7;
  const coefficients = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const zz = z - 1;
  let sum = coefficients[0] as number;
  for (let i = 1; i < g + 2; i++) sum += (coefficients[i] as number) / (zz + i);
  const t = zz + g + 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (zz + 0.5) * Math.log(t) - t + Math.log(sum);
}
