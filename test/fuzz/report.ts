import type { FuzzReport } from './fuzz.js';

/** What the fuzz tried (counts per target), the process's fds and RSS, and what it found. */
export function printReport(report: FuzzReport, out: (line: string) => void): void {
  out(`fuzz: seed ${report.seed}, ${report.inputs} inputs in ${report.batches} batches, ${report.seconds}s`);
  for (const [target, c] of Object.entries(report.perTarget)) {
    out(`  ${target.padEnd(13)} sent ${String(c.sent).padStart(6)}  answered ${String(c.answered).padStart(6)}  `
      + `closed silently ${String(c.closedSilently).padStart(6)}  hung ${c.hung}`);
  }
  out(`  fds start ${report.fds.start}, max ${report.fds.max}, end ${report.fds.end}; `
    + `RSS start ${report.rssMiB.start} MiB, max ${report.rssMiB.max} MiB, end ${report.rssMiB.end} MiB`);
  if (report.findings.length === 0) out('  findings: none');
  for (const f of report.findings) {
    out(`  FINDING ${f.kind} (batch ${f.batch}): ${f.detail}${f.input ? `\n    ${f.input}` : ''}`);
  }
}
