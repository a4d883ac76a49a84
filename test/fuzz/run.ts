import { runFuzz } from './fuzz.js';
import { printReport } from './report.js';

/** `npm run fuzz [-- --seconds N] [--seed S] [--count N]`: prints what it tried and found; exit 1 on a finding. */
function parse(argv: readonly string[]): { seconds: number; seed: number; count: number | undefined } {
  let seconds = 60;
  let seed = Date.now() % 2 ** 32;
  let count: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = Number(argv[++i]);
    if (!Number.isFinite(value) || value < 0) throw new Error(`${flag} needs a number, got ${JSON.stringify(argv[i])}`);
    if (flag === '--seconds') seconds = value;
    else if (flag === '--seed') seed = value >>> 0;
    else if (flag === '--count') count = value;
    else throw new Error(`unknown flag ${flag} (use --seconds N, --seed S, --count N)`);
  }
  return { seconds, seed, count };
}

// `node --test dist/test/` loads every file, this CLI too: there it does nothing (fuzz.test.ts is the suite's run).
if (process.env.NODE_TEST_CONTEXT === undefined) {
  const args = parse(process.argv.slice(2));
  const progress = (line: string): void => void process.stderr.write(`${line}\n`);
  const report = await runFuzz({ seconds: args.seconds, seed: args.seed, maxInputs: args.count, progress });
  printReport(report, (line) => process.stdout.write(`${line}\n`));
  process.exitCode = report.findings.length > 0 ? 1 : 0;
}
