/**
 * `npm run perf:gate [-- REF] [--rounds N] [--candidate-env NAME=VALUE ...] [--baseline-env NAME=VALUE ...]`
 *
 * Baseline: REF (default HEAD~1 on a clean tree, HEAD when the tree has changes) built in a temporary worktree.
 * Candidate: this working tree (already built). The candidate's bench code measures both builds, in interleaved
 * rounds (B C, C B, ...). A metric in bench/gates.json regresses when Welch's t-test is significant at α and the
 * candidate is worse than its threshold. Prints a verdict per metric; exits 1 naming every regressed metric.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchReport, BenchScenario } from './types.js';
import { flagValue, flagValues, positionals } from './lib/args.js';
import { parseGateConfig, type GateConfig, type GateMetric } from './lib/gate-config.js';
import { judge, type Verdict } from './lib/verdict.js';
import { benchRepoRoot, setTidegateTarget, parseEnvAssignments, tidegateCliPath } from './lib/tidegate.js';
import { buildBaseline, defaultBaselineRef, resolveCommit, type BaselineBuild } from './lib/worktree.js';
import { discoverScenarios, makeContext, defaultResultsDir } from './run.js';
import { textTable, formatPercent } from './lib/gate-format.js';
import { existsSync } from 'node:fs';

interface Side {
  readonly name: 'baseline' | 'candidate';
  readonly root: string;
  readonly env: Record<string, string>;
  /** samples[scenario][metric][path] */
  readonly samples: Map<string, number[]>;
}

function key(scenario: string, metric: string, path: string): string {
  return `${scenario}\u0000${metric}\u0000${path}`;
}

function log(message: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] gate: ${message}\n`);
}

function recordReport(side: Side, report: BenchReport, better: Map<string, 'higher' | 'lower'>): void {
  for (const metric of report.metrics) {
    const k = key(report.scenario, metric.name, metric.path);
    better.set(`${report.scenario}\u0000${metric.name}`, metric.better);
    let list = side.samples.get(k);
    if (!list) side.samples.set(k, (list = []));
    list.push(...metric.samples);
  }
}

/** One round of one side: every gated scenario once, quick, only the paths still in play. */
async function runSide(
  side: Side,
  scenarios: readonly BenchScenario[],
  pathsFor: Map<string, string[]>,
  round: number,
  better: Map<string, 'higher' | 'lower'>,
): Promise<void> {
  setTidegateTarget({ root: side.root, env: side.env });
  for (const scenario of scenarios) {
    const paths = pathsFor.get(scenario.name) ?? [];
    if (paths.length === 0) continue;
    const prefix = `round ${round} ${side.name} ${scenario.name}: `;
    const context = () => makeContext({ rounds: 1, quick: true, resultsDir: defaultResultsDir, paths, prefix });
    let report: BenchReport;
    try {
      report = await scenario.run(context());
    } catch (error) {
      // One failed start (a port race, a slow peer) says nothing about the build; the same failure twice does.
      log(`${prefix}failed (${String(error).split('\n')[0]}); running it once more`);
      report = await scenario.run(context());
    }
    recordReport(side, report, better);
  }
}

/** For each gated metric, the first preferred path that both sides reported, or null. */
function choosePath(metric: GateMetric, baseline: Side, candidate: Side): string | null {
  for (const path of metric.paths) {
    const k = key(metric.scenario, metric.metric, path);
    if (baseline.samples.has(k) && candidate.samples.has(k)) return path;
  }
  return null;
}

interface Row {
  readonly metric: GateMetric;
  readonly path: string | null;
  readonly verdict: Verdict | null;
  readonly message: string;
}

export function formatRows(rows: readonly Row[]): string {
  return textTable(
    ['scenario', 'metric', 'path', 'baseline', 'candidate', 'worse by', 'threshold', 'p', 'alpha', 'verdict'],
    rows.map((r) => [
      r.metric.scenario,
      r.metric.metric,
      r.path ?? '-',
      r.verdict ? r.verdict.baselineMedian.toPrecision(4) : '-',
      r.verdict ? r.verdict.candidateMedian.toPrecision(4) : '-',
      r.verdict ? formatPercent(r.verdict.worseBy) : '-',
      formatPercent(r.metric.threshold),
      r.verdict && Number.isFinite(r.verdict.p) ? r.verdict.p.toExponential(1) : '-',
      String(r.metric.alpha),
      r.message,
    ]),
    [3, 4, 5, 6, 7, 8],
  );
}

async function main(): Promise<void> {
  const started = performance.now();
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      'usage: npm run perf:gate [-- REF] [--rounds N] [--candidate-env NAME=VALUE ...] ' +
        '[--baseline-env NAME=VALUE ...] [--gates FILE] [--candidate-root DIR] [--keep-worktree]\n',
    );
    return;
  }
  const flags = ['--rounds', '--candidate-env', '--baseline-env', '--gates', '--candidate-root'];
  const gatesFile = resolve(flagValue(argv, '--gates') ?? join(benchRepoRoot, 'bench', 'gates.json'));
  const config: GateConfig = parseGateConfig(JSON.parse(await readFile(gatesFile, 'utf8')));
  const roundsFlag = flagValue(argv, '--rounds');
  const rounds = roundsFlag === undefined ? config.rounds : Number(roundsFlag);
  if (!Number.isInteger(rounds) || rounds < 2) throw new Error(`--rounds expects an integer >= 2, got "${roundsFlag}"`);
  const candidateEnv = parseEnvAssignments(flagValues(argv, '--candidate-env'));
  const baselineEnv = parseEnvAssignments(flagValues(argv, '--baseline-env'));
  const [refArg] = positionals(argv, flags);

  // The candidate is this checkout unless --candidate-root names another built one (e.g. an integration tree).
  const candidateRoot = resolve(flagValue(argv, '--candidate-root') ?? benchRepoRoot);
  if (!existsSync(tidegateCliPath(candidateRoot))) {
    throw new Error(`the candidate is not built: run npm run build in ${candidateRoot}`);
  }
  const ref = refArg ?? (await defaultBaselineRef(candidateRoot));
  const commit = await resolveCommit(candidateRoot, ref);
  const withEnv = Object.keys(candidateEnv).length ? ` with ${JSON.stringify(candidateEnv)}` : '';
  log(`baseline ${ref} (${commit.slice(0, 10)}) vs candidate = working tree${withEnv}`);

  const available = await discoverScenarios();
  const gated = [...new Set(config.metrics.map((m) => m.scenario))];
  const scenarios: BenchScenario[] = [];
  const skipped: string[] = [];
  for (const name of gated) {
    const scenario = available.get(name);
    if (scenario) scenarios.push(scenario);
    else if (config.metrics.filter((m) => m.scenario === name).every((m) => m.optional)) skipped.push(name);
    else {
      const have = [...available.keys()].join(', ');
      throw new Error(`gates.json names scenario "${name}", which is not built (have: ${have})`);
    }
  }
  for (const name of skipped) log(`scenario ${name} is not built in this tree: its gated metrics are skipped`);

  const baselineBuild: BaselineBuild = await buildBaseline(candidateRoot, commit, log);
  for (const note of baselineBuild.notes) log(note);
  if (!existsSync(tidegateCliPath(baselineBuild.root))) {
    await baselineBuild.remove();
    throw new Error(`baseline ${ref} has no tidegate CLI (dist/src/cli.js) after building; pick a newer REF`);
  }
  log(`baseline built in ${Math.round((performance.now() - started) / 1000)} s`);

  const baseline: Side = { name: 'baseline', root: baselineBuild.root, env: baselineEnv, samples: new Map() };
  const candidate: Side = { name: 'candidate', root: candidateRoot, env: candidateEnv, samples: new Map() };
  const better = new Map<string, 'higher' | 'lower'>();
  // Round 1 runs every preferred path; afterwards only the path chosen per metric.
  const pathsFor = new Map<string, string[]>();
  for (const m of config.metrics) {
    pathsFor.set(m.scenario, [...new Set([...(pathsFor.get(m.scenario) ?? []), ...m.paths])]);
  }

  let done = 0;
  try {
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? [baseline, candidate] : [candidate, baseline];
      for (const side of order) await runSide(side, scenarios, pathsFor, round, better);
      done = round;
      if (round === 1) {
        pathsFor.clear();
        for (const m of config.metrics) {
          const path = choosePath(m, baseline, candidate);
          if (path !== null) pathsFor.set(m.scenario, [...new Set([...(pathsFor.get(m.scenario) ?? []), path])]);
        }
      }
      const elapsed = (performance.now() - started) / 1000;
      const perRound = elapsed / round;
      if (round >= config.minRounds && elapsed + perRound > config.budgetSeconds && round < rounds) {
        log(`stopping after ${round} rounds to stay within ${config.budgetSeconds} s`);
        break;
      }
    }
  } finally {
    if (!argv.includes('--keep-worktree')) await baselineBuild.remove();
    else log(`baseline worktree kept at ${baselineBuild.root}`);
  }

  const rows: Row[] = config.metrics.map((metric): Row => {
    if (!scenarios.some((s) => s.name === metric.scenario)) {
      return { metric, path: null, verdict: null, message: 'skipped (scenario not built)' };
    }
    const path = choosePath(metric, baseline, candidate);
    if (path === null) {
      const message = metric.optional ? 'skipped (not reported)' : 'MISSING (not reported by both builds)';
      return { metric, path: null, verdict: null, message };
    }
    const direction = better.get(`${metric.scenario}\u0000${metric.metric}`) ?? 'higher';
    const verdict = judge(
      baseline.samples.get(key(metric.scenario, metric.metric, path)) ?? [],
      candidate.samples.get(key(metric.scenario, metric.metric, path)) ?? [],
      direction, metric.alpha, metric.threshold,
    );
    const message = verdict.kind === 'regression' ? 'REGRESSION'
      : verdict.kind === 'improvement' ? 'improved'
      : verdict.kind === 'insufficient' ? 'too few samples'
      : 'ok';
    return { metric, path, verdict, message };
  });

  const seconds = Math.round((performance.now() - started) / 1000);
  process.stdout.write(
    `\nperf gate: baseline ${ref} (${commit.slice(0, 10)}) vs working tree · ` +
      `${done} interleaved rounds · ${seconds} s\n`,
  );
  process.stdout.write(formatRows(rows) + '\n');
  await mkdir(defaultResultsDir, { recursive: true });
  await writeFile(join(defaultResultsDir, 'gate.raw.json'), JSON.stringify({
    ref, commit, rounds: done, seconds, alpha: config.alpha, candidateEnv, baselineEnv,
    rows: rows.map((r) => ({ ...r.metric, path: r.path, verdict: r.verdict, message: r.message })),
    samples: { baseline: Object.fromEntries(baseline.samples), candidate: Object.fromEntries(candidate.samples) },
  }, null, 2));

  const regressions = rows.filter((r) => r.verdict?.kind === 'regression');
  const missing = rows.filter((r) => r.message.startsWith('MISSING'));
  if (regressions.length > 0) {
    for (const r of regressions) {
      process.stdout.write(
        `perf gate FAILED: ${r.metric.scenario} ${r.metric.metric} (${r.path}) is ` +
          `${formatPercent(r.verdict?.worseBy ?? 0)} worse (threshold ${formatPercent(r.metric.threshold)}, ` +
          `p=${r.verdict?.p.toExponential(1)} < α=${r.metric.alpha})\n`,
      );
    }
    process.exitCode = 1;
  } else if (missing.length > 0) {
    const names = missing.map((r) => `${r.metric.scenario} ${r.metric.metric}`).join(', ');
    process.stdout.write(`perf gate FAILED: no comparable samples for ${names}\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write('perf gate passed: no metric is significantly worse than its threshold\n');
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: Error) => {
    process.stderr.write(`perf gate: ${error.stack ?? error.message}\n`);
    process.exit(2);
  });
}
