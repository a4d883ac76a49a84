import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, percentile, mean, variance, welchTTest, studentTTwoSidedP, logGamma } from '../../bench/stats.js';

function close(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: expected ${expected} ± ${tolerance}, got ${actual}`);
}

test('median of odd and even samples, unaffected by input order', () => {
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
});

test('percentile interpolates between closest ranks', () => {
  const values = [10, 20, 30, 40, 50];
  assert.equal(percentile(values, 0), 10);
  assert.equal(percentile(values, 100), 50);
  assert.equal(percentile(values, 25), 20);
  close(percentile(values, 99), 49.6, 1e-9, 'p99');
  close(percentile([1, 2, 3, 4], 50), 2.5, 1e-12, 'p50');
});

test('mean and unbiased variance', () => {
  assert.equal(mean([1, 2, 3, 4]), 2.5);
  close(variance([1, 2, 3, 4]), 5 / 3, 1e-12, 'variance');
  assert.equal(variance([3]), 0);
});

test('empty samples and out-of-range percentiles are rejected', () => {
  assert.throws(() => median([]), RangeError);
  assert.throws(() => mean([]), RangeError);
  assert.throws(() => percentile([1], 101), /within 0\.\.100/);
  assert.throws(() => percentile([1], -1), /within 0\.\.100/);
  assert.throws(() => welchTTest([1], [1, 2]), /at least 2 values/);
});

test('logGamma matches known values', () => {
  close(logGamma(1), 0, 1e-12, 'lnΓ(1)');
  close(logGamma(5), Math.log(24), 1e-10, 'lnΓ(5)');
  close(logGamma(0.5), Math.log(Math.sqrt(Math.PI)), 1e-10, 'lnΓ(0.5)');
});

test("Welch's t-test matches SciPy ttest_ind(equal_var=False)", () => {
  // Values from scipy.stats.ttest_ind(a, b, equal_var=False).
  const a = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4];
  const b = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4];
  const r = welchTTest(a, b);
  close(r.t, -2.455356398286006, 1e-9, 't');
  close(r.df, 24.988529290231416, 1e-9, 'df');
  close(r.p, 0.021378001462866992, 1e-9, 'p');

  const r2 = welchTTest([1, 2, 3, 4], [10, 11, 13, 12, 14]);
  close(r2.t, -9.922426389474778, 1e-9, 't2');
  close(r2.df, 6.980769230769231, 1e-9, 'df2');
  close(r2.p, 2.2936786255241183e-5, 1e-11, 'p2');
});

test('two-sided Student t p-value for fractional degrees of freedom', () => {
  close(studentTTwoSidedP(2.0, 3.5), 0.12613852257591343, 1e-9, 'p(t=2, df=3.5)');
  assert.equal(studentTTwoSidedP(0, 10), 1);
});

test('identical constant samples are not significant; different constant samples are', () => {
  assert.equal(welchTTest([5, 5, 5], [5, 5]).p, 1);
  assert.equal(welchTTest([5, 5, 5], [6, 6]).p, 0);
});
