/** bench/gates.json: which metrics the perf gate compares, with α and thresholds. Validated once at load. */

export interface GateMetric {
  readonly scenario: string;
  readonly metric: string;
  /** Preference list: the first path that both baseline and candidate report is compared. */
  readonly paths: readonly string[];
  /** Fraction, e.g. 0.1 = the candidate may be up to 10% worse before it counts. */
  readonly threshold: number;
  /** Skip (with a message) when the scenario is not built, instead of failing. */
  readonly optional: boolean;
  /** Significance level for this metric (wall-clock metrics on a shared machine want a stricter one). */
  readonly alpha: number;
}

export interface GateConfig {
  readonly alpha: number;
  readonly defaultThreshold: number;
  readonly rounds: number;
  readonly minRounds: number;
  /** Stop adding rounds (after minRounds) once this much time went by, to keep the gate within its budget. */
  readonly budgetSeconds: number;
  readonly metrics: readonly GateMetric[];
}

function fail(path: string, expected: string, got: unknown): never {
  throw new Error(`gates.json ${path}: expected ${expected}, got ${JSON.stringify(got)}`);
}

function fraction(value: unknown, path: string, lowExclusive: boolean): number {
  if (typeof value !== 'number' || !(lowExclusive ? value > 0 : value >= 0) || value >= 1) {
    fail(path, 'a number in (0, 1)', value);
  }
  return value as number;
}

function positiveInt(value: unknown, path: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) fail(path, `an integer >= ${min}`, value);
  return value as number;
}

export function parseGateConfig(raw: unknown): GateConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('', 'an object', raw);
  const r = raw as Record<string, unknown>;
  const alpha = fraction(r.alpha, 'alpha', true);
  const defaultThreshold = r.defaultThreshold === undefined
    ? 0.1
    : fraction(r.defaultThreshold, 'defaultThreshold', true);
  const rounds = r.rounds === undefined ? 8 : positiveInt(r.rounds, 'rounds', 2);
  const minRounds = r.minRounds === undefined ? Math.min(rounds, 5) : positiveInt(r.minRounds, 'minRounds', 2);
  if (minRounds > rounds) fail('minRounds', `at most rounds (${rounds})`, minRounds);
  const budgetSeconds = r.budgetSeconds === undefined ? 270 : positiveInt(r.budgetSeconds, 'budgetSeconds', 1);
  if (!Array.isArray(r.metrics) || r.metrics.length === 0) fail('metrics', 'a non-empty array', r.metrics);
  const metrics = (r.metrics as unknown[]).map((m, i): GateMetric => {
    if (typeof m !== 'object' || m === null) fail(`metrics[${i}]`, 'an object', m);
    const e = m as Record<string, unknown>;
    if (typeof e.scenario !== 'string' || e.scenario === '') {
      fail(`metrics[${i}].scenario`, 'a scenario name', e.scenario);
    }
    if (typeof e.metric !== 'string' || e.metric === '') fail(`metrics[${i}].metric`, 'a metric name', e.metric);
    if (!Array.isArray(e.paths) || e.paths.length === 0 || !e.paths.every((p) => typeof p === 'string')) {
      fail(`metrics[${i}].paths`, 'a non-empty array of path names', e.paths);
    }
    const threshold = e.threshold === undefined
      ? defaultThreshold
      : fraction(e.threshold, `metrics[${i}].threshold`, true);
    if (e.optional !== undefined && typeof e.optional !== 'boolean') {
      fail(`metrics[${i}].optional`, 'a boolean', e.optional);
    }
    const metricAlpha = e.alpha === undefined ? alpha : fraction(e.alpha, `metrics[${i}].alpha`, true);
    return {
      scenario: e.scenario as string,
      metric: e.metric as string,
      paths: e.paths as string[],
      threshold,
      optional: e.optional === true,
      alpha: metricAlpha,
    };
  });
  return { alpha, defaultThreshold, rounds, minRounds, budgetSeconds, metrics };
}
