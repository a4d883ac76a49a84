/**
 * Bench results on disk: bench/results/<scenario>.json (one file per scenario, the shape below), SVG charts drawn
 * from it, and bench/results/SUMMARY.md over every results file present.
 */
import { cpus, loadavg } from 'node:os';
import type { BenchMetric, BenchRatio, BenchReport } from '../types.js';
import { renderBarChart, formatValue, type BarChart, type BarGroup } from './svg.js';

export const RESULTS_SCHEMA = 'tidegate-bench/1';

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly platform: string;
  /** 1-minute load average at the start and the end: a busy shared machine shows here. */
  readonly loadavgStart: number;
  readonly loadavgEnd: number;
}

export interface BuildInfo {
  readonly root: string;
  readonly commit: string;
  readonly dirty: boolean;
}

export interface BenchResultsFile {
  readonly schema: typeof RESULTS_SCHEMA;
  readonly scenario: string;
  readonly description: string;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly rounds: number;
  readonly quick: boolean;
  readonly machine: MachineInfo;
  /** Which tidegate build was measured (git commit of its checkout, and whether that tree had changes). */
  readonly build?: BuildInfo;
  readonly metrics: readonly BenchMetric[];
  readonly ratios: readonly BenchRatio[];
  readonly notes: readonly string[];
}

export function machineInfo(loadavgStart: number): MachineInfo {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    loadavgStart,
    loadavgEnd: loadavg()[0] ?? 0,
  };
}

export function toResultsFile(
  report: BenchReport,
  meta: {
    description: string; startedAt: Date; durationMs: number; rounds: number; quick: boolean; machine: MachineInfo;
    build?: BuildInfo;
  },
): BenchResultsFile {
  const { ratios, notes } = computedRatios(report);
  return {
    schema: RESULTS_SCHEMA,
    scenario: report.scenario,
    description: meta.description,
    startedAt: meta.startedAt.toISOString(),
    durationMs: Math.round(meta.durationMs),
    rounds: meta.rounds,
    quick: meta.quick,
    machine: meta.machine,
    ...(meta.build ? { build: meta.build } : {}),
    metrics: report.metrics,
    ratios,
    notes,
  };
}

/**
 * The report's ratios that have a value, and its notes with one more naming those that have none: a ratio over a
 * path left out with --paths (or skipped) is NaN, which JSON would write as null and SUMMARY.md would then refuse.
 */
function computedRatios(report: BenchReport): { ratios: BenchRatio[]; notes: string[] } {
  const ratios = report.ratios.filter((r) => Number.isFinite(r.value));
  const missing = report.ratios.filter((r) => !Number.isFinite(r.value)).map((r) => r.name);
  if (missing.length === 0) return { ratios, notes: [...report.notes] };
  const what = ratios.length === 0
    ? 'No ratio computed'
    : `${missing.length} of ${report.ratios.length} ratios not computed`;
  const why = 'each needs a path or metric this run does not have (see --paths)';
  return { ratios, notes: [...report.notes, `${what}: ${why}: ${missing.join('; ')}.`] };
}

/** Checks a parsed results file; throws naming the first field that is wrong. */
export function validateResultsFile(value: unknown): BenchResultsFile {
  const fail = (path: string, expected: string, got: unknown): never => {
    throw new Error(`results ${path}: expected ${expected}, got ${JSON.stringify(got)?.slice(0, 60)}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('', 'an object', value);
  const r = value as Record<string, unknown>;
  if (r.schema !== RESULTS_SCHEMA) fail('schema', `"${RESULTS_SCHEMA}"`, r.schema);
  for (const key of ['scenario', 'description', 'startedAt'] as const) {
    if (typeof r[key] !== 'string') fail(key, 'a string', r[key]);
  }
  for (const key of ['durationMs', 'rounds'] as const) if (typeof r[key] !== 'number') fail(key, 'a number', r[key]);
  if (typeof r.quick !== 'boolean') fail('quick', 'a boolean', r.quick);
  if (typeof r.machine !== 'object' || r.machine === null) fail('machine', 'an object', r.machine);
  if (r.build !== undefined) {
    const build = r.build as Record<string, unknown> | null;
    if (
      typeof build !== 'object' || build === null || typeof build.commit !== 'string' ||
      typeof build.dirty !== 'boolean'
    ) {
      fail('build', '{ root, commit, dirty }', r.build);
    }
  }
  if (!Array.isArray(r.metrics)) fail('metrics', 'an array', r.metrics);
  (r.metrics as unknown[]).forEach((m, i) => {
    if (typeof m !== 'object' || m === null) return fail(`metrics[${i}]`, 'an object', m);
    const metric = m as Record<string, unknown>;
    for (const key of ['name', 'path', 'unit'] as const) {
      if (typeof metric[key] !== 'string') fail(`metrics[${i}].${key}`, 'a string', metric[key]);
    }
    if (metric.better !== 'higher' && metric.better !== 'lower') {
      fail(`metrics[${i}].better`, '"higher" or "lower"', metric.better);
    }
    if (
      !Array.isArray(metric.samples) || metric.samples.length === 0 ||
      !metric.samples.every((s) => typeof s === 'number')
    ) {
      fail(`metrics[${i}].samples`, 'a non-empty array of numbers', metric.samples);
    }
    if (typeof metric.median !== 'number') fail(`metrics[${i}].median`, 'a number', metric.median);
  });
  if (!Array.isArray(r.ratios)) fail('ratios', 'an array', r.ratios);
  (r.ratios as unknown[]).forEach((x, i) => {
    const ratio = x as Record<string, unknown>;
    if (typeof ratio?.name !== 'string') fail(`ratios[${i}].name`, 'a string', ratio?.name);
    if (typeof ratio.value !== 'number') fail(`ratios[${i}].value`, 'a number', ratio.value);
  });
  if (!Array.isArray(r.notes) || !r.notes.every((n) => typeof n === 'string')) {
    fail('notes', 'an array of strings', r.notes);
  }
  return value as BenchResultsFile;
}

const PERCENTILE = /^p\d+(\.\d+)?$/;

/** `churn.p99` → churn + p99; `chat300-p99` → chat300 + p99 (scenarios use either separator). */
function splitName(name: string): { prefix: string; suffix: string } {
  const cut = Math.max(name.lastIndexOf('.'), name.lastIndexOf('-'));
  return cut < 0 ? { prefix: '', suffix: name } : { prefix: name.slice(0, cut), suffix: name.slice(cut + 1) };
}

function pathsInOrder(metrics: readonly BenchMetric[]): string[] {
  return [...new Set(metrics.map((m) => m.path))];
}

/**
 * Charts for one results file: one chart per metric (a bar per path), except latency percentiles (`p50`, `p99`,
 * `x.p99`), which share one chart per prefix with a group of bars per path. Keys are file-name slugs.
 */
export function chartsFor(results: BenchResultsFile): Map<string, BarChart> {
  const charts = new Map<string, BarChart>();
  const paths = pathsInOrder(results.metrics);
  const names = [...new Set(results.metrics.map((m) => m.name))];
  const latencyPrefixes = new Set<string>();
  for (const name of names) {
    const { prefix, suffix } = splitName(name);
    if (PERCENTILE.test(suffix)) {
      latencyPrefixes.add(prefix);
      continue;
    }
    const groups: BarGroup[] = [];
    let unit = '';
    let better: 'higher' | 'lower' | undefined;
    for (const path of paths) {
      const metric = results.metrics.find((m) => m.name === name && m.path === path);
      if (!metric) continue;
      unit = metric.unit;
      better = metric.better;
      groups.push({
        label: path,
        bars: [{
          label: suffix, value: metric.median, min: Math.min(...metric.samples), max: Math.max(...metric.samples),
        }],
      });
    }
    charts.set(slug(`${results.scenario}-${name}`), { title: `${results.scenario}: ${name}`, unit, better, groups });
  }
  for (const prefix of latencyPrefixes) {
    const groups: BarGroup[] = [];
    let unit = '';
    for (const path of paths) {
      const bars = results.metrics
        .filter((m) => (
          m.path === path && splitName(m.name).prefix === prefix && PERCENTILE.test(splitName(m.name).suffix)
        ))
        .sort((a, b) => Number(splitName(a.name).suffix.slice(1)) - Number(splitName(b.name).suffix.slice(1)))
        .map((m) => {
          unit = m.unit;
          return {
            label: splitName(m.name).suffix, value: m.median, min: Math.min(...m.samples), max: Math.max(...m.samples),
          };
        });
      if (bars.length > 0) groups.push({ label: path, bars });
    }
    const title = `${results.scenario}: ${prefix === '' ? '' : `${prefix} `}latency percentiles`;
    charts.set(
      slug(`${results.scenario}-${prefix === '' ? '' : `${prefix}.`}latency`), { title, unit, better: 'lower', groups },
    );
  }
  return charts;
}

export function slug(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, '-');
}

export function renderCharts(results: BenchResultsFile): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, chart] of chartsFor(results)) out.set(`${name}.svg`, renderBarChart(chart));
  return out;
}

function describeSpread(metric: BenchMetric): string {
  return `${formatValue(Math.min(...metric.samples))} – ${formatValue(Math.max(...metric.samples))}`;
}

/** The Markdown section for one scenario: metrics table, ratios with targets, notes, charts. */
export function markdownSection(results: BenchResultsFile, chartFiles: readonly string[]): string {
  const lines: string[] = [];
  lines.push(`## ${results.scenario}`, '', results.description, '');
  lines.push(
    `Run ${results.startedAt} · ${results.rounds} round(s)${results.quick ? ' (quick)' : ''} · ` +
      `${Math.round(results.durationMs / 1000)} s · ` +
      `${results.machine.cpus} × ${results.machine.cpuModel} · Node ${results.machine.node} · ` +
      `load ${results.machine.loadavgStart.toFixed(2)} → ${results.machine.loadavgEnd.toFixed(2)}` +
      (results.build
        ? ` · tidegate ${results.build.commit.slice(0, 10)}${results.build.dirty ? ' + local changes' : ''}`
        : ''),
    '',
  );
  lines.push('| metric | path | median | min – max | unit | better |', '| --- | --- | ---: | ---: | --- | --- |');
  const sorted = [...results.metrics].sort((a, b) => (a.name === b.name ? 0 : a.name < b.name ? -1 : 1));
  for (const m of sorted) {
    lines.push(`| ${m.name} | ${m.path} | ${formatValue(m.median)} | ${describeSpread(m)} | ${m.unit} | ${m.better} |`);
  }
  if (results.ratios.length > 0) {
    lines.push('', '| ratio | value | target | met |', '| --- | ---: | --- | --- |');
    for (const r of results.ratios) {
      const met = r.met === undefined ? '' : r.met ? 'yes' : '**no**';
      lines.push(`| ${r.name} | ${formatValue(r.value)} | ${r.target ?? ''} | ${met} |`);
    }
  }
  if (results.notes.length > 0) lines.push('', ...results.notes.map((n) => `- ${n}`));
  if (chartFiles.length > 0) lines.push('', ...chartFiles.map((file) => `![${file}](${file})`));
  lines.push('');
  return lines.join('\n');
}

export function markdownSummary(sections: readonly string[]): string {
  return [
    '# tidegate bench results',
    '',
    'Produced by `npm run bench`. Every figure is a median of several rounds measured beside its baselines in the same',
    'run on this machine; compare ratios, not absolute numbers, across machines.',
    '',
    ...sections,
  ].join('\n');
}

/** A plain-text table for the terminal. */
export function textTable(
  headers: readonly string[], rows: readonly (readonly string[])[], rightAligned: readonly number[] = [],
): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (rightAligned.includes(i) ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function metricsTable(results: BenchResultsFile): string {
  const rows = [...results.metrics]
    .sort((a, b) => (a.name === b.name ? 0 : a.name < b.name ? -1 : 1))
    .map((m) => [m.name, m.path, formatValue(m.median), describeSpread(m), m.unit]);
  const table = textTable(['metric', 'path', 'median', 'min – max', 'unit'], rows, [2, 3]);
  if (results.ratios.length === 0) return table;
  const ratioRows = results.ratios.map((r) => [
    r.name, formatValue(r.value), r.target ?? '', r.met === undefined ? '' : r.met ? 'yes' : 'NO',
  ]);
  return `${table}\n\n${textTable(['ratio', 'value', 'target', 'met'], ratioRows, [1])}`;
}
