import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  toResultsFile, validateResultsFile, chartsFor, renderCharts, markdownSection, metricsTable, machineInfo,
  RESULTS_SCHEMA,
} from '../../bench/lib/results.js';
import { toMetric } from '../../bench/lib/metric.js';
import type { BenchReport } from '../../bench/types.js';
import { removeOldCharts, writeSummary } from '../../bench/run.js';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const report: BenchReport = {
  scenario: 'relay',
  metrics: [
    toMetric('single.throughput', 'tidegate-native', 'Gbit/s', 'higher', [30, 31, 29]),
    toMetric('single.throughput', 'baseline-pipe', 'Gbit/s', 'higher', [10, 12, 11]),
    toMetric('churn.p50', 'tidegate-native', 'ms', 'lower', [1, 2, 3]),
    toMetric('churn.p99', 'tidegate-native', 'ms', 'lower', [5, 6, 7]),
    toMetric('churn.p99', 'baseline-pipe', 'ms', 'lower', [9, 9, 9]),
  ],
  ratios: [{ name: 'native / pipe throughput', value: 30 / 11, target: '>= 2.5', met: true }],
  notes: ['haproxy skipped: not installed'],
};

function results() {
  return toResultsFile(report, {
    description: 'relay bench',
    startedAt: new Date('2026-01-02T03:04:05Z'),
    durationMs: 1234.4,
    rounds: 3,
    quick: true,
    machine: machineInfo(0.5),
  });
}

test('results file carries the report and run metadata and survives a JSON round trip', () => {
  const file = results();
  assert.equal(file.schema, RESULTS_SCHEMA);
  assert.equal(file.startedAt, '2026-01-02T03:04:05.000Z');
  assert.equal(file.durationMs, 1234);
  assert.equal(file.metrics[0]?.median, 30);
  assert.equal(file.metrics[1]?.median, 11);
  const parsed = validateResultsFile(JSON.parse(JSON.stringify(file)));
  assert.deepEqual(parsed, JSON.parse(JSON.stringify(file)));
  assert.ok(parsed.machine.cpus >= 1);
});

test('validateResultsFile names the first wrong field', () => {
  const good = JSON.parse(JSON.stringify(results()));
  assert.throws(() => validateResultsFile([]), /results : expected an object/);
  assert.throws(() => validateResultsFile({ ...good, schema: 'other' }), /results schema/);
  assert.throws(() => validateResultsFile({ ...good, rounds: '3' }), /results rounds: expected a number/);
  const badMetric = { ...good, metrics: [{ ...good.metrics[0], better: 'faster' }] };
  assert.throws(() => validateResultsFile(badMetric), /metrics\[0\]\.better/);
  const noSamples = { ...good, metrics: [{ ...good.metrics[0], samples: [] }] };
  assert.throws(() => validateResultsFile(noSamples), /metrics\[0\]\.samples: expected a non-empty array/);
  assert.throws(() => validateResultsFile({ ...good, notes: [1] }), /notes/);
  assert.throws(() => validateResultsFile({ ...good, build: { commit: 1 } }), /results build/);
  assert.doesNotThrow(() => validateResultsFile({ ...good, build: { root: '/x', commit: 'abc', dirty: false } }));
});

test('charts: one per plain metric, latency percentiles grouped per prefix', () => {
  const charts = chartsFor(results());
  assert.deepEqual([...charts.keys()].sort(), ['relay-churn.latency', 'relay-single.throughput']);
  const latency = charts.get('relay-churn.latency');
  assert.deepEqual(latency?.groups.map((g) => [g.label, g.bars.map((b) => b.label)]), [
    ['tidegate-native', ['p50', 'p99']],
    ['baseline-pipe', ['p99']],
  ]);
  const throughput = charts.get('relay-single.throughput');
  assert.deepEqual(throughput?.groups.map((g) => [g.label, g.bars[0]?.value, g.bars[0]?.min, g.bars[0]?.max]), [
    ['tidegate-native', 30, 29, 31],
    ['baseline-pipe', 11, 10, 12],
  ]);
  assert.ok([...renderCharts(results()).keys()].every((f) => f.endsWith('.svg')));
});

test('charts: dash-separated percentile names group too; other dashed names stay whole', () => {
  const file = toResultsFile(
    {
      scenario: 'gateway',
      metrics: [
        toMetric('chat300-p50', 'tidegate', 'ms', 'lower', [1]),
        toMetric('chat300-p99', 'tidegate', 'ms', 'lower', [3]),
        toMetric('chat300-rps', 'tidegate', 'req/s', 'higher', [100]),
      ],
      ratios: [],
      notes: [],
    },
    { description: 'gw', startedAt: new Date(0), durationMs: 1, rounds: 1, quick: true, machine: machineInfo(0) },
  );
  const charts = chartsFor(file);
  assert.deepEqual([...charts.keys()].sort(), ['gateway-chat300-rps', 'gateway-chat300.latency']);
  assert.deepEqual(charts.get('gateway-chat300.latency')?.groups[0]?.bars.map((b) => b.label), ['p50', 'p99']);
});

test('markdown section and terminal table show medians, spreads, ratios with targets, notes and charts', () => {
  const md = markdownSection(results(), ['relay-single.throughput.svg']);
  assert.match(md, /^## relay/);
  assert.match(md, /\| single\.throughput \| tidegate-native \| 30\.0 \| 29\.0 – 31\.0 \| Gbit\/s \| higher \|/);
  assert.match(md, /\| native \/ pipe throughput \| 2\.73 \| >= 2\.5 \| yes \|/);
  assert.match(md, /- haproxy skipped: not installed/);
  assert.match(md, /!\[relay-single\.throughput\.svg\]\(relay-single\.throughput\.svg\)/);
  const table = metricsTable(results());
  assert.match(table, /single\.throughput\s+baseline-pipe\s+11\.0\s+10\.0 – 12\.0\s+Gbit\/s/);
  assert.match(table, /native \/ pipe throughput\s+2\.73\s+>= 2\.5\s+yes/);
});

test('a scenario\'s old charts are removed, not those of a scenario whose name extends its own', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidegate-charts-'));
  try {
    for (const f of ['gateway-chat300-rps.svg', 'gateway-soak-chat300-rps.svg', 'gateway.json', 'pool-tasks.svg']) {
      writeFileSync(join(dir, f), '');
    }
    await removeOldCharts(dir, 'gateway', ['gateway', 'gateway-soak', 'pool']);
    assert.deepEqual(readdirSync(dir).sort(), ['gateway-soak-chat300-rps.svg', 'gateway.json', 'pool-tasks.svg']);
    await removeOldCharts(dir, 'gateway-soak', ['gateway', 'gateway-soak', 'pool']);
    assert.deepEqual(readdirSync(dir).sort(), ['gateway.json', 'pool-tasks.svg']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ratios over a path that was not run are left out and named in a note; SUMMARY.md shows the rest', async () => {
  const missing = Number.NaN;
  const partial: BenchReport = {
    ...report,
    ratios: [
      { name: 'native / pipe throughput', value: 30 / 11, target: '>= 2.5', met: true },
      { name: 'native / haproxy throughput', value: 30 / missing, target: '>= 1', met: false },
      { name: 'native - haproxy p99 (ms)', value: 6 - missing },
    ],
  };
  const meta = {
    description: 'relay bench', startedAt: new Date(0), durationMs: 1, rounds: 1, quick: true, machine: machineInfo(0),
  };
  const file = toResultsFile(partial, meta);
  assert.deepEqual(file.ratios.map((r) => r.name), ['native / pipe throughput']);
  assert.equal(file.notes[0], 'haproxy skipped: not installed');
  assert.match(file.notes[1]!, /^2 of 3 ratios not computed: .*--paths.*: native \/ haproxy throughput; native - haproxy p99/);
  const none = toResultsFile({ ...partial, ratios: partial.ratios.slice(1) }, meta);
  assert.deepEqual(none.ratios, []);
  assert.match(none.notes[1]!, /^No ratio computed: /);
  const dir = mkdtempSync(join(tmpdir(), 'tidegate-summary-'));
  try {
    writeFileSync(join(dir, 'relay.json'), JSON.stringify(file));
    const summary = readFileSync(await writeSummary(dir), 'utf8');
    assert.doesNotMatch(summary, /Not shown/);
    assert.match(summary, /\| native \/ pipe throughput \| 2\.73 \| >= 2\.5 \| yes \|/);
    assert.match(summary, /- 2 of 3 ratios not computed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
