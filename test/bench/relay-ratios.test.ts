import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pairedRatio, relayRatios } from '../../bench/scenarios/relay.js';
import { toMetric } from '../../bench/lib/metric.js';
import type { BenchMetric } from '../../bench/types.js';

function throughput(path: string, samples: number[]): BenchMetric {
  return toMetric('single.throughput', path, 'Gbit/s', 'higher', samples);
}

// Round by round: 10/11, 8/10, 12/12 against the better relay; 10/10, 8/10, 12/12 against HAProxy alone;
// 10/11, 8/9, 12/10 against the C relay alone. The medians are all 10.
const METRICS = [
  throughput('tidegate-native', [10, 8, 12]),
  throughput('haproxy', [10, 10, 12]),
  throughput('baseline-splice-c', [11, 9, 10]),
];

function samplesOf(list: readonly BenchMetric[]) {
  return (name: string, path: string) => list.find((m) => m.name === name && m.path === path)?.samples;
}

test('pairedRatio: the median of per-round ratios to the better of the others, or to one alone', () => {
  const samples = samplesOf(METRICS);
  assert.equal(pairedRatio(samples, 'single.throughput', 'tidegate-native', ['haproxy', 'baseline-splice-c']), 10 / 11);
  assert.equal(pairedRatio(samples, 'single.throughput', 'tidegate-native', ['haproxy']), 1);
  assert.equal(pairedRatio(samples, 'single.throughput', 'tidegate-native', ['baseline-splice-c']), 10 / 11);
});

test('pairedRatio: others not measured are left out; rounds that do not line up give no ratio', () => {
  const samples = samplesOf(METRICS);
  assert.equal(pairedRatio(samples, 'single.throughput', 'tidegate-native', ['haproxy', 'not-run']), 1);
  assert.equal(pairedRatio(samples, 'single.throughput', 'tidegate-native', ['not-run']), undefined);
  assert.equal(pairedRatio(samples, 'single.throughput', 'not-run', ['haproxy']), undefined);
  const failed = samplesOf([throughput('tidegate-native', [10, 8, 12]), throughput('haproxy', [10, 10])]);
  assert.equal(pairedRatio(failed, 'single.throughput', 'tidegate-native', ['haproxy']), undefined);
});

test('relayRatios reports the per-round ratios beside the target ratio of medians, which keeps its target', () => {
  const ratios = relayRatios(METRICS);
  const named = (name: string) => ratios.find((r) => r.name === name);
  const target = named('tidegate-native / best splice relay (haproxy, C) single-stream throughput');
  assert.ok(target !== undefined);
  assert.equal(target.value, 10 / 10);
  assert.equal(target.target, '>= 0.97');
  assert.equal(target.met, true);
  const paired = 'single-stream throughput, median of per-round ratios';
  const best = named(`tidegate-native / best splice relay (haproxy, C) ${paired}`);
  assert.deepEqual(best, { name: `tidegate-native / best splice relay (haproxy, C) ${paired}`, value: 10 / 11 });
  assert.equal(named(`tidegate-native / haproxy ${paired}`)?.value, 1);
  assert.equal(named(`tidegate-native / baseline-splice-c ${paired}`)?.value, 10 / 11);
});
