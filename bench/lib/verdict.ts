/** The perf gate's decision for one metric: significant (Welch) AND worse than its threshold → regression. */
import { median, welchTTest } from '../stats.js';

export type VerdictKind = 'regression' | 'improvement' | 'unchanged' | 'insufficient';

export interface Verdict {
  readonly kind: VerdictKind;
  readonly baselineMedian: number;
  readonly candidateMedian: number;
  /** Relative change of the candidate's median where positive means worse (sign follows `better`). */
  readonly worseBy: number;
  readonly p: number;
  readonly threshold: number;
  readonly alpha: number;
}

export function judge(
  baseline: readonly number[],
  candidate: readonly number[],
  better: 'higher' | 'lower',
  alpha: number,
  threshold: number,
): Verdict {
  if (baseline.length < 2 || candidate.length < 2) {
    return {
      kind: 'insufficient',
      baselineMedian: baseline.length > 0 ? median(baseline) : NaN,
      candidateMedian: candidate.length > 0 ? median(candidate) : NaN,
      worseBy: NaN,
      p: NaN,
      threshold,
      alpha,
    };
  }
  const baselineMedian = median(baseline);
  const candidateMedian = median(candidate);
  const change = baselineMedian === 0 ? 0 : (candidateMedian - baselineMedian) / Math.abs(baselineMedian);
  const worseBy = better === 'higher' ? -change : change;
  const { p } = welchTTest(candidate, baseline);
  const significant = p < alpha;
  const kind: VerdictKind = significant && worseBy > threshold ? 'regression'
    : significant && -worseBy > threshold ? 'improvement'
    : 'unchanged';
  return { kind, baselineMedian, candidateMedian, worseBy, p, threshold, alpha };
}
