import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chargedShare, probeCounts, receivedDataEvents } from '../../bench/lib/softirq-charge.js';
import { fitCharge, solve, type ChargedWindow } from '../../bench/lib/charge-fit.js';
import { chargeReport } from '../../bench/lib/charge-report.js';
import { toMetric } from '../../bench/lib/metric.js';

test('receivedDataEvents: one tcp_probe counter filtered on the receiving port and data segments', () => {
  assert.deepEqual(receivedDataEvents(4100), ['-e', 'tcp:tcp_probe', '--filter', 'sport == 4100 && data_len > 0']);
});

test('probeCounts: the tcp_probe lines of perf stat -x , in order, unsupported counts as 0', () => {
  const stderr = [
    '',
    '5123,,tcp:tcp_probe,1001,100.00,,',
    '3.0,msec,task-clock,3000,100.00,1.0,CPUs utilized',
    '<not supported>,,tcp:tcp_probe,0,100.00,,',
    '17,,tcp:tcp_probe,1001,100.00,,',
  ].join('\n');
  assert.deepEqual(probeCounts(stderr), [5123, 0, 17]);
});

test('chargedShare: two decimals, capped at 1, null without segments', () => {
  assert.equal(chargedShare(1, 3), 0.33);
  assert.equal(chargedShare(12, 10), 1);
  assert.equal(chargedShare(0, 0), null);
});

test('solve: a small system, and undefined for a singular one', () => {
  const x = solve([[2, 1], [1, 3]], [5, 10]);
  assert.ok(x !== undefined);
  assert.ok(Math.abs((x[0] as number) - 1) < 1e-9 && Math.abs((x[1] as number) - 3) < 1e-9);
  assert.equal(solve([[1, 2], [2, 4]], [1, 2]), undefined);
});

// Windows made by a known rule: own cost per path plus 200 per unit of in-share and 350 of out-share.
const RULE = { a: 70, b: 90, perIn: 200, perOut: 350 };
function window(path: 'a' | 'b', inShare: number, outShare: number, noise = 0): ChargedWindow {
  return { path, cpuPerGiB: RULE[path] + RULE.perIn * inShare + RULE.perOut * outShare + noise, inShare, outShare };
}
const WINDOWS = [
  window('a', 0.8, 0.01), window('a', 0.1, 0.02), window('a', 0.45, 0.6), window('a', 0.3, 0.05),
  window('b', 0.7, 0.01), window('b', 0.2, 0.03), window('b', 0.9, 0.7), window('b', 0.5, 0.02),
];

test('fitCharge: recovers own costs and slopes, compares at the median shares', () => {
  const fit = fitCharge(WINDOWS);
  assert.ok(fit !== undefined);
  assert.ok(Math.abs((fit.own.get('a') as number) - 70) < 1e-6);
  assert.ok(Math.abs((fit.own.get('b') as number) - 90) < 1e-6);
  assert.ok(Math.abs(fit.perIn - 200) < 1e-6 && Math.abs(fit.perOut - 350) < 1e-6);
  assert.ok(fit.r2 > 0.999);
  const shared = 200 * fit.medianIn + 350 * fit.medianOut;
  assert.ok(Math.abs((fit.atMedianCharge.get('a') as number) - (70 + shared)) < 1e-6);
  // Noise lowers R², not the recovered difference by much.
  const noisy = fitCharge(WINDOWS.map((w, i) => ({ ...w, cpuPerGiB: w.cpuPerGiB + (i % 2 === 0 ? 8 : -8) })));
  assert.ok(noisy !== undefined && noisy.r2 < 1);
  assert.ok(Math.abs((noisy.own.get('b') as number) - (noisy.own.get('a') as number) - 20) < 10);
});

test('fitCharge: undefined with too few windows or shares that do not vary', () => {
  assert.equal(fitCharge(WINDOWS.slice(0, 3)), undefined);
  const flat = WINDOWS.map((w) => ({ ...w, inShare: 0.5, outShare: 0.1 }));
  assert.equal(fitCharge(flat), undefined);
});

test('chargeReport: a note with the fit and the ratio at equal charge from the bench metrics', () => {
  const metrics = (['a', 'b'] as const).flatMap((path) => {
    const mine = WINDOWS.filter((w) => w.path === path);
    return [
      toMetric('streams100.cpuPerGiB', path, 'CPU-s/GiB', 'lower', mine.map((w) => w.cpuPerGiB)),
      toMetric('streams100.receivedOnRelayIn', path, 'share', 'lower', mine.map((w) => w.inShare)),
      toMetric('streams100.receivedOnRelayOut', path, 'share', 'lower', mine.map((w) => w.outShare)),
    ];
  });
  const report = chargeReport(metrics, ['streams100', 'streams1000'], ['a'], ['b']);
  assert.equal(report.ratios.length, 1);
  const fit = fitCharge(WINDOWS);
  assert.ok(fit !== undefined);
  const expected = (fit.atMedianCharge.get('a') as number) / (fit.atMedianCharge.get('b') as number);
  assert.ok(Math.abs((report.ratios[0]?.value as number) - expected) < 1e-9);
  assert.match(report.ratios[0]?.name ?? '', /^a \/ b streams100 CPU per GiB at equal charge/);
  assert.equal(report.notes.length, 1);
  assert.match(report.notes[0] ?? '', /fit over 8 rounds: R² 1\.00/);
  // A charge that would lower the CPU (slopes below zero) explains nothing: a note, no ratio.
  const inverted = metrics.map((m) => (m.name === 'streams100.cpuPerGiB'
    ? toMetric(m.name, m.path, m.unit, m.better, m.samples.map((v) => 400 - v)) : m));
  const none = chargeReport(inverted, ['streams100'], ['a'], ['b']);
  assert.equal(none.ratios.length, 0);
  assert.match(none.notes[0] ?? '', /do not explain these rounds/);
  // Rounds without shares (no perf): no fit, no ratio.
  const bare = metrics.filter((m) => m.name === 'streams100.cpuPerGiB');
  assert.deepEqual(chargeReport(bare, ['streams100'], ['a'], ['b']), { ratios: [], notes: [] });
});
