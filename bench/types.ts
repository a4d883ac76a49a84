/**
 * The contract every bench scenario implements (bench/scenarios/<name>.ts exports `scenario`). The runner
 * (bench/run.ts) runs scenarios, prints tables, writes bench/results/<name>.json and a Markdown summary, and
 * draws charts; the perf gate (bench/gate.ts) compares baseline and candidate metrics from the same scenarios.
 */

export interface BenchContext {
  /** Rounds per measurement; the median of the rounds is reported. */
  readonly rounds: number;
  /** Short runs (CI gate, smoke tests). */
  readonly quick: boolean;
  /** Progress lines for the person waiting. */
  log(message: string): void;
  /** Where a scenario may write extra artefacts. */
  readonly resultsDir: string;
  /**
   * When set, run only these paths (e.g. `['tidegate-native', 'tidegate-js']` for the perf gate and the profiler);
   * a scenario skips the others and their baselines. Absent: every path.
   */
  readonly paths?: readonly string[];
}

export interface BenchMetric {
  /** What is measured, e.g. `throughput`, `p99`, `cpuPerGiB`, `connPerSec`. */
  readonly name: string;
  /** Which path produced it, e.g. `tidegate-native`, `tidegate-js`, `baseline-pipe`, `haproxy`. */
  readonly path: string;
  readonly unit: string;
  readonly better: 'higher' | 'lower';
  /** One value per round. */
  readonly samples: readonly number[];
  readonly median: number;
}

/** A ratio the scenario wants reported, e.g. native throughput over the pipe baseline. */
export interface BenchRatio {
  readonly name: string;
  readonly value: number;
  /** The target, e.g. `>= 2.5`, if there is one. */
  readonly target?: string;
  readonly met?: boolean;
}

export interface BenchReport {
  readonly scenario: string;
  readonly metrics: readonly BenchMetric[];
  readonly ratios: readonly BenchRatio[];
  readonly notes: readonly string[];
}

export interface BenchScenario {
  readonly name: string;
  readonly description: string;
  run(context: BenchContext): Promise<BenchReport>;
}
