/**
 * `npm run bench [-- SCENARIO ...] [--quick] [--rounds N] [--paths a,b]`: runs bench scenarios (every
 * dist/bench/scenarios/*.js that exports `scenario`), prints a table per scenario, writes
 * bench/results/<scenario>.json, SVG charts and bench/results/SUMMARY.md.
 */
import { readdir, readFile, writeFile, mkdir, unlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadavg } from 'node:os';
import type { BenchContext, BenchScenario } from './types.js';
import { flagValue, positionals } from './lib/args.js';
import { tidegateTarget } from './lib/tidegate.js';
import { runCommand } from './lib/process.js';
import type { BuildInfo } from './lib/results.js';
import {
  toResultsFile, machineInfo, metricsTable, renderCharts, markdownSection, markdownSummary, validateResultsFile, slug,
} from './lib/results.js';

const distBenchDir = dirname(fileURLToPath(import.meta.url));
/** Results live in the source tree (bench/results), not in dist. */
export const defaultResultsDir = resolve(distBenchDir, '..', '..', 'bench', 'results');

/** Every compiled scenario module that exports a `scenario` with a name and a run function, by name. */
export async function discoverScenarios(
  scenariosDir = join(distBenchDir, 'scenarios'),
): Promise<Map<string, BenchScenario>> {
  const found = new Map<string, BenchScenario>();
  if (!existsSync(scenariosDir)) return found;
  for (const file of (await readdir(scenariosDir)).sort()) {
    if (!file.endsWith('.js')) continue;
    const module = (await import(pathToFileURL(join(scenariosDir, file)).href)) as { scenario?: BenchScenario };
    const scenario = module.scenario;
    if (scenario && typeof scenario.name === 'string' && typeof scenario.run === 'function') {
      found.set(scenario.name, scenario);
    }
  }
  return found;
}

function timestamp(): string {
  return new Date().toISOString().slice(11, 19);
}

export function makeContext(options: {
  rounds: number; quick: boolean; resultsDir: string; paths?: readonly string[]; prefix: string;
}): BenchContext {
  const context: BenchContext = {
    rounds: options.rounds,
    quick: options.quick,
    resultsDir: options.resultsDir,
    log(message: string) {
      process.stderr.write(`[${timestamp()}] ${options.prefix}${message}\n`);
    },
    ...(options.paths ? { paths: options.paths } : {}),
  };
  return context;
}

/** Rewrites SUMMARY.md from every valid results file in the directory. */
export async function writeSummary(resultsDir: string): Promise<string> {
  const sections: string[] = [];
  const files = (await readdir(resultsDir)).filter((f) => f.endsWith('.json') && !f.endsWith('.raw.json')).sort();
  for (const file of files) {
    let results;
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(join(resultsDir, file), 'utf8'));
      results = validateResultsFile(parsed);
    } catch (error) {
      // A results file from an older runner is named; other JSON in the folder (pool-threshold.json) is not ours.
      const looksLikeResults =
        typeof parsed === 'object' && parsed !== null && 'scenario' in parsed && 'metrics' in parsed;
      if (looksLikeResults) {
        sections.push(
          `## ${file}\n\nNot shown: ${(error as Error).message}. ` +
            `Rerun \`npm run bench -- ${file.replace(/\.json$/, '')}\`.\n`,
        );
      }
      continue;
    }
    const charts = [...renderCharts(results).keys()];
    sections.push(markdownSection(results, charts));
  }
  const summaryPath = join(resultsDir, 'SUMMARY.md');
  await writeFile(summaryPath, markdownSummary(sections));
  return summaryPath;
}

/** The commit of the tidegate checkout being measured, or undefined outside git. */
export async function buildInfo(root = tidegateTarget().root): Promise<BuildInfo | undefined> {
  const head = await runCommand('git', ['-C', root, 'rev-parse', 'HEAD']);
  if (head.code !== 0) return undefined;
  const status = await runCommand('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no']);
  return { root, commit: head.stdout.trim(), dirty: status.stdout.trim() !== '' };
}

/** Removes `scenario`'s charts: files named after it, but not those of a scenario whose name extends it. */
export async function removeOldCharts(
  resultsDir: string, scenario: string, scenarioNames: readonly string[],
): Promise<void> {
  const prefix = `${slug(scenario)}-`;
  const others = scenarioNames.map((name) => `${slug(name)}-`).filter((p) => p !== prefix && p.startsWith(prefix));
  for (const file of await readdir(resultsDir)) {
    if (!file.startsWith(prefix) || !file.endsWith('.svg') || others.some((p) => file.startsWith(p))) continue;
    await unlink(join(resultsDir, file));
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      'usage: npm run bench [-- SCENARIO ...] [--quick] [--rounds N] [--paths p1,p2] [--results DIR]\n',
    );
    return;
  }
  const quick = argv.includes('--quick');
  const roundsFlag = flagValue(argv, '--rounds');
  const rounds = roundsFlag === undefined ? (quick ? 3 : 5) : Number(roundsFlag);
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new Error(`--rounds expects a positive integer, got "${roundsFlag}"`);
  }
  const pathsFlag = flagValue(argv, '--paths');
  const paths = pathsFlag?.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const resultsDir = resolve(flagValue(argv, '--results') ?? defaultResultsDir);
  const wanted = positionals(argv, ['--rounds', '--paths', '--results']);

  const scenarios = await discoverScenarios();
  for (const name of wanted) {
    if (!scenarios.has(name)) {
      throw new Error(`unknown scenario "${name}"; available: ${[...scenarios.keys()].join(', ') || '(none built)'}`);
    }
  }
  const selected = wanted.length > 0 ? wanted.map((n) => scenarios.get(n) as BenchScenario) : [...scenarios.values()];
  await mkdir(resultsDir, { recursive: true });
  process.stderr.write(
    `bench: ${selected.map((s) => s.name).join(', ')} · ${rounds} round(s)${quick ? ' · quick' : ''} · ` +
      `results in ${resultsDir}\n`,
  );

  let failures = 0;
  for (const scenario of selected) {
    const startedAt = new Date();
    const load0 = loadavg()[0] ?? 0;
    const t0 = performance.now();
    const context = makeContext({ rounds, quick, resultsDir, paths, prefix: `${scenario.name}: ` });
    context.log(scenario.description);
    let report;
    try {
      report = await scenario.run(context);
    } catch (error) {
      failures++;
      context.log(`FAILED: ${(error as Error).stack ?? String(error)}`);
      continue;
    }
    const results = toResultsFile(report, {
      description: scenario.description, startedAt, durationMs: performance.now() - t0, rounds, quick,
      machine: machineInfo(load0),
      build: await buildInfo(),
    });
    await writeFile(join(resultsDir, `${slug(scenario.name)}.json`), JSON.stringify(results, null, 2) + '\n');
    await removeOldCharts(resultsDir, scenario.name, [...scenarios.keys()]);
    for (const [file, svg] of renderCharts(results)) await writeFile(join(resultsDir, file), svg);
    process.stdout.write(
      `\n== ${scenario.name} (${Math.round(results.durationMs / 1000)} s) ==\n${metricsTable(results)}\n`,
    );
    if (results.notes.length > 0) process.stdout.write(results.notes.map((n) => `  · ${n}`).join('\n') + '\n');
  }
  const summary = await writeSummary(resultsDir);
  process.stdout.write(`\nwrote ${summary}\n`);
  if (failures > 0) process.exitCode = 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: Error) => {
    process.stderr.write(`bench: ${error.message}\n`);
    process.exit(1);
  });
}
