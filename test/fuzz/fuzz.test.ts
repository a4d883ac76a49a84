import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runFuzz } from './fuzz.js';
import { printReport } from './report.js';

// A short run of `npm run fuzz` (about 20 s with start-up and the checks) with a fixed seed: it fails on any finding.
it('fuzz: SOCKS5, CONNECT, plain HTTP proxy, admin and gateway inputs find no crash, escaped exception, hang '
  + 'or leak', async (t) => {
  const report = await runFuzz({ seconds: 12, seed: 15_2026 });
  const lines: string[] = [];
  printReport(report, (line) => lines.push(line));
  for (const line of lines) t.diagnostic(line);
  assert.ok(report.inputs > 0);
  for (const counts of Object.values(report.perTarget)) assert.ok(counts.sent > 0);
  assert.deepEqual(report.findings, [], lines.join('\n'));
});
