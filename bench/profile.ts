/**
 * `npm run profile -- SCENARIO [--tools 0x,cpu-prof,clinic,perf] [--paths p1,p2] [--quick]`
 *
 * Runs the scenario's load (tidegate paths only, one round) once per tool with tidegate wrapped by that tool, and
 * writes under bench/results/profiles/<scenario>-<time>/<tool>/<path>/:
 *  - 0x: an HTML flamegraph (headless, --output-dir);
 *  - cpu-prof: `node --cpu-prof`, a .cpuprofile per thread (main and pool workers; open in Chrome DevTools);
 *  - clinic: doctor and flame reports (the clinic devDependency, no browser, its telemetry and update check off);
 *  - perf: `perf record` of the tidegate process (native relay frames, JIT frames via the perf map) and a
 *    `perf report` text summary, where perf can sample here.
 */
import { readdir, stat, writeFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flagValue, positionals } from './lib/args.js';
import { discoverScenarios, makeContext, defaultResultsDir } from './run.js';
import { clinicBin, setTidegateTarget, type TidegateWrap } from './lib/tidegate.js';
import { runCommand, hasCommand } from './lib/process.js';

const TOOLS = ['0x', 'cpu-prof', 'clinic', 'perf'] as const;
type Tool = (typeof TOOLS)[number];

/** Tidegate paths a scenario may report; scenarios skip the ones they do not have. */
const TIDEGATE_PATHS = ['tidegate-native', 'tidegate-js', 'tidegate'];

function say(message: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] profile: ${message}\n`);
}

/** Which perf event can sample here: hardware cycles where counters exist, else the cpu-clock software event. */
export async function perfEvent(): Promise<{ event: string | null; why: string }> {
  if (!(await hasCommand('perf', ['--version']))) {
    return { event: null, why: 'perf is not installed (apt-get install linux-perf)' };
  }
  const hw = await runCommand('perf', ['stat', '-e', 'instructions', 'true']);
  if (hw.code === 0 && !/not supported|<not counted>/.test(hw.stderr)) return { event: 'cycles', why: 'hardware counters available' };
  const sw = await runCommand('perf', ['record', '-e', 'cpu-clock', '-o', '/dev/null', '--', 'true']);
  if (sw.code === 0) {
    return {
      event: 'cpu-clock',
      why: 'no hardware counters here (perf stat -e instructions: not supported); ' +
        'sampling with the cpu-clock software event',
    };
  }
  return { event: null, why: `perf cannot sample here: ${(sw.stderr || hw.stderr).trim().split('\n').pop() ?? ''}` };
}

async function listFiles(dir: string, root: string, out: string[] = []): Promise<string[]> {
  if (!existsSync(dir)) return out;
  for (const name of await readdir(dir)) {
    const full = join(dir, name);
    if ((await stat(full)).isDirectory()) await listFiles(full, root, out);
    else out.push(relative(root, full));
  }
  return out;
}

async function perfReports(dir: string): Promise<void> {
  for (const file of await listFiles(dir, dir)) {
    if (!file.endsWith('perf.data')) continue;
    const data = join(dir, file);
    const report = await runCommand(
      'perf', ['report', '-i', data, '--stdio', '--no-children', '--percent-limit', '0.5', '--sort', 'dso,symbol'],
    );
    await writeFile(data.replace(/perf\.data$/, 'perf-report.txt'), report.stdout || report.stderr);
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const [name] = positionals(argv, ['--tools', '--paths']);
  const scenarios = await discoverScenarios();
  if (name === undefined || argv.includes('--help')) {
    process.stdout.write(
      `usage: npm run profile -- SCENARIO [--tools ${TOOLS.join(',')}] [--paths p1,p2] [--quick]\n` +
        `scenarios: ${[...scenarios.keys()].join(', ')}\n`,
    );
    if (name === undefined) process.exitCode = 2;
    return;
  }
  const scenario = scenarios.get(name);
  if (!scenario) throw new Error(`unknown scenario "${name}"; available: ${[...scenarios.keys()].join(', ')}`);
  const tools = (flagValue(argv, '--tools') ?? TOOLS.join(',')).split(',').map((t) => t.trim()) as Tool[];
  for (const tool of tools) {
    if (!TOOLS.includes(tool)) throw new Error(`unknown tool "${tool}"; tools: ${TOOLS.join(', ')}`);
  }
  const paths = flagValue(argv, '--paths')?.split(',') ?? TIDEGATE_PATHS;
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const base = join(defaultResultsDir, 'profiles', `${scenario.name}-${stamp}`);
  await mkdir(base, { recursive: true });
  const messages: string[] = [];

  for (const tool of tools) {
    const wraps: TidegateWrap[] = [];
    let perfEventName = 'cpu-clock';
    if (tool === 'clinic') {
      if (!existsSync(clinicBin())) {
        messages.push('clinic: not installed, skipped (it is a devDependency: npm ci)');
        continue;
      }
      wraps.push('clinic-doctor', 'clinic-flame');
    } else if (tool === 'perf') {
      const found = await perfEvent();
      if (found.event === null) {
        messages.push(`perf: skipped, ${found.why}`);
        continue;
      }
      perfEventName = found.event;
      messages.push(`perf: ${found.why}`);
      wraps.push('perf');
    } else wraps.push(tool);

    for (const wrap of wraps) {
      const dir = join(base, wrap);
      say(`${wrap}: running the ${scenario.name} load on ${paths.join(', ')} → ${relative(process.cwd(), dir)}`);
      setTidegateTarget({ wrap, profileDir: dir, perfEvent: perfEventName });
      const context = makeContext({
        rounds: 1, quick: argv.includes('--quick'), resultsDir: dir, paths, prefix: `${wrap} `,
      });
      try {
        const report = await scenario.run(context);
        for (const note of report.notes) if (/skipped|failed/.test(note)) say(`${wrap}: ${note}`);
        if (wrap === 'perf') await perfReports(dir);
      } catch (error) {
        messages.push(`${wrap}: failed: ${(error as Error).message}`);
        continue;
      } finally {
        setTidegateTarget({ wrap: 'none' });
      }
      const files = await listFiles(dir, base);
      if (wrap.startsWith('clinic') && !files.some((f) => f.endsWith('.html'))) {
        messages.push(`${wrap}: produced no HTML report (clinic may not support Node ${process.version})`);
      }
      if (wrap === '0x' && !files.some((f) => f.endsWith('flamegraph.html'))) {
        messages.push('0x: no flamegraph.html was written');
      }
      if (wrap === 'cpu-prof' && !files.some((f) => f.endsWith('.cpuprofile'))) {
        messages.push('cpu-prof: no .cpuprofile was written');
      }
      messages.push(`${wrap}: ${files.length} file(s)`);
    }
  }

  const all = await listFiles(base, base);
  process.stdout.write(`\nprofiles of ${scenario.name} in ${base}\n`);
  for (const file of all.filter((f) => /\.(html|cpuprofile|txt|data)$/.test(f))) process.stdout.write(`  ${file}\n`);
  for (const message of messages) process.stdout.write(`· ${message}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: Error) => {
    process.stderr.write(`profile: ${error.message}\n`);
    process.exit(1);
  });
}
