import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseGateConfig } from '../../bench/lib/gate-config.js';
import { judge } from '../../bench/lib/verdict.js';
import { benchRepoRoot, parseEnvAssignments, parseStatus } from '../../bench/lib/tidegate.js';
import { parseProcStatCpuSeconds } from '../../bench/lib/cpu.js';
import { haproxyConfig } from '../../bench/lib/baselines.js';

const minimal = { alpha: 0.01, metrics: [{ scenario: 'relay', metric: 'single.throughput', paths: ['tidegate-js'] }] };

test('the shipped bench/gates.json is valid', async () => {
  const config = parseGateConfig(JSON.parse(await readFile(join(benchRepoRoot, 'bench', 'gates.json'), 'utf8')));
  assert.ok(config.metrics.some((m) => m.scenario === 'relay'));
  assert.ok(config.minRounds <= config.rounds);
});

test('gate config defaults: threshold 10%, 8 rounds', () => {
  const config = parseGateConfig(minimal);
  assert.equal(config.defaultThreshold, 0.1);
  assert.equal(config.metrics[0]?.threshold, 0.1);
  assert.equal(config.metrics[0]?.optional, false);
  assert.equal(config.rounds, 8);
  assert.equal(config.metrics[0]?.alpha, 0.01, 'a metric inherits the global alpha');
  const strict = parseGateConfig({
    alpha: 0.01, metrics: [{ scenario: 'relay', metric: 'x', paths: ['a'], alpha: 0.001 }],
  });
  assert.equal(strict.metrics[0]?.alpha, 0.001);
});

test('gate config errors name the field, what was expected and what came', () => {
  assert.throws(() => parseGateConfig({ ...minimal, alpha: 0 }), /gates\.json alpha: expected a number in \(0, 1\), got 0/);
  assert.throws(() => parseGateConfig({ ...minimal, alpha: '0.05' }), /alpha/);
  assert.throws(() => parseGateConfig({ ...minimal, metrics: [] }), /metrics: expected a non-empty array/);
  assert.throws(() => parseGateConfig({ ...minimal, rounds: 1 }), /rounds: expected an integer >= 2/);
  assert.throws(() => parseGateConfig({ ...minimal, rounds: 4, minRounds: 5 }), /minRounds: expected at most rounds/);
  assert.throws(() => parseGateConfig({ alpha: 0.01, metrics: [{ scenario: 'relay', metric: 'x', paths: [] }] }), /metrics\[0\]\.paths/);
  assert.throws(() => parseGateConfig({ alpha: 0.01, metrics: [{ scenario: 'relay', metric: 'x', paths: ['a'], threshold: 2 }] }), /metrics\[0\]\.threshold/);
  assert.throws(() => parseGateConfig({ alpha: 0.01, metrics: [{ metric: 'x', paths: ['a'] }] }), /metrics\[0\]\.scenario/);
  assert.throws(() => parseGateConfig({ alpha: 0.01, metrics: [{ scenario: 'r', metric: 'x', paths: ['a'], alpha: 1 }] }), /metrics\[0\]\.alpha/);
});

test('a significant drop beyond the threshold is a regression (higher is better)', () => {
  const v = judge([100, 101, 99, 100, 102], [70, 71, 69, 70, 72], 'higher', 0.01, 0.1);
  assert.equal(v.kind, 'regression');
  assert.ok(Math.abs(v.worseBy - 0.3) < 1e-9);
  assert.ok(v.p < 0.01);
});

test('a significant rise in a lower-is-better metric is a regression', () => {
  const v = judge([10, 10.5, 9.5, 10, 10], [15, 15.5, 14.5, 15, 15], 'lower', 0.01, 0.1);
  assert.equal(v.kind, 'regression');
  assert.ok(Math.abs(v.worseBy - 0.5) < 1e-9);
});

test('significant but within threshold is not a regression', () => {
  const v = judge([100, 100.1, 99.9, 100, 100], [95, 95.1, 94.9, 95, 95], 'higher', 0.01, 0.1);
  assert.ok(v.p < 0.01);
  assert.equal(v.kind, 'unchanged');
});

test('beyond threshold but not significant (noisy) is not a regression', () => {
  const v = judge([100, 40, 160, 100, 100], [80, 20, 140, 80, 80], 'higher', 0.01, 0.1);
  assert.ok(v.worseBy > 0.1);
  assert.equal(v.kind, 'unchanged');
});

test('a significant gain beyond threshold is reported as an improvement; too few samples are flagged', () => {
  assert.equal(judge([100, 101, 99], [150, 151, 149], 'higher', 0.01, 0.1).kind, 'improvement');
  assert.equal(judge([100], [150, 151], 'higher', 0.01, 0.1).kind, 'insufficient');
});

test('env assignments for --candidate-env', () => {
  assert.deepEqual(parseEnvAssignments(['TIDEGATE_SLOW_MS=5', 'A=b=c']), { TIDEGATE_SLOW_MS: '5', A: 'b=c' });
  assert.deepEqual(parseEnvAssignments('X=1, Y=2'), { X: '1', Y: '2' });
  assert.deepEqual(parseEnvAssignments(''), {});
  assert.throws(() => parseEnvAssignments(['NOVALUE']), /expected NAME=VALUE, got "NOVALUE"/);
  assert.throws(() => parseEnvAssignments(['=1']), /expected NAME=VALUE/);
});

test('admin /status parsing accepts services as a list or keyed by name', () => {
  const list = parseStatus({ relayEngine: 'native', services: [{ name: 'a', state: 'running' }] });
  assert.equal(list.relayEngine, 'native');
  assert.deepEqual(list.services, [{ name: 'a', state: 'running' }]);
  const keyed = parseStatus({ services: { b: { state: 'starting' } } });
  assert.deepEqual(keyed.services, [{ name: 'b', state: 'starting' }]);
  assert.equal(keyed.relayEngine, undefined);
  assert.throws(() => parseStatus(null), /not a JSON object/);
});

test('/proc/<pid>/stat CPU time: utime + stime over clock ticks, comm with spaces and parentheses', () => {
  const line = '1234 (node (main) x) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 11 0 100 0 0';
  assert.equal(parseProcStatCpuSeconds(line, 100), 3);
  assert.throws(() => parseProcStatCpuSeconds('garbage', 100), /not a \/proc/);
});

test('HAProxy config forces splice both ways with 1 MiB pipes, one listener per target', () => {
  const cfg = haproxyConfig([2000, 2001], [3000, 3001]);
  assert.match(cfg, /tune\.pipesize 1048576/);
  assert.match(cfg, /option splice-request/);
  assert.match(cfg, /option splice-response/);
  assert.match(cfg, /bind 127\.0\.0\.1:2000\n {2}server target0 127\.0\.0\.1:3000/);
  assert.match(cfg, /bind 127\.0\.0\.1:2001\n {2}server target1 127\.0\.0\.1:3001/);
});
