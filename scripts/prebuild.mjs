// `npm run prebuild` makes prebuilds/ with prebuildify. npm also runs a script named "prebuild" as the pre-hook
// of "build", where it must do nothing (the TypeScript build should stay fast and never need a compiler). npm
// gives both the same environment, so ask the npm process itself which script it was asked to run.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

function requestedScript() {
  try {
    // node (this) ← sh -c ← npm: read npm's command line.
    const shellStat = readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
    const npmPid = shellStat.slice(shellStat.lastIndexOf(')') + 2).split(' ')[1];
    const argv = readFileSync(`/proc/${npmPid}/cmdline`, 'utf8').split(/[\0\s]+/);
    return argv.includes('build') ? 'build' : argv.includes('prebuild') ? 'prebuild' : null;
  } catch {
    return null;
  }
}

if (requestedScript() === 'build') process.exit(0);
const result = spawnSync('npx', ['prebuildify', '--napi', '--strip'], { stdio: 'inherit' });
process.exit(result.status ?? 1);
