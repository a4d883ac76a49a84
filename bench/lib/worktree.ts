/**
 * The perf gate's baseline: a git ref checked out in a temporary worktree and built there. node_modules is the
 * candidate's (a symlink) when package-lock.json did not change; the native addon build is reused when native/
 * and binding.gyp did not change, and rebuilt otherwise.
 */
import { mkdtemp, readFile, symlink, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from './process.js';

async function git(root: string, args: readonly string[]): Promise<string> {
  const result = await runCommand('git', ['-C', root, ...args]);
  if (result.code !== 0) {
    throw new Error(`git ${args.join(' ')} failed: ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return result.stdout;
}

/** Whether the working tree differs from HEAD (tracked changes or untracked files that are not ignored). */
export async function treeHasChanges(root: string): Promise<boolean> {
  return (await git(root, ['status', '--porcelain'])).trim() !== '';
}

/** The default baseline: HEAD when the tree has changes (compare them), else HEAD~1 (compare the last commit). */
export async function defaultBaselineRef(root: string): Promise<string> {
  return (await treeHasChanges(root)) ? 'HEAD' : 'HEAD~1';
}

export async function resolveCommit(root: string, ref: string): Promise<string> {
  try {
    return (await git(root, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`])).trim();
  } catch {
    throw new Error(`baseline ref "${ref}" is not a commit here (a shallow clone? fetch more history, or pass a REF)`);
  }
}

export interface BaselineBuild {
  readonly root: string;
  readonly commit: string;
  readonly notes: readonly string[];
  remove(): Promise<void>;
}

/** Checks out `commit` in a temporary worktree and builds it; `log` gets progress lines. */
export async function buildBaseline(
  candidateRoot: string, commit: string, log: (message: string) => void,
): Promise<BaselineBuild> {
  const dir = await mkdtemp(join(tmpdir(), 'tidegate-gate-'));
  const notes: string[] = [];
  await git(candidateRoot, ['worktree', 'add', '--detach', dir, commit]);
  const remove = async (): Promise<void> => {
    await runCommand('git', ['-C', candidateRoot, 'worktree', 'remove', '--force', dir]);
    await rm(dir, { recursive: true, force: true });
    await runCommand('git', ['-C', candidateRoot, 'worktree', 'prune']);
  };
  try {
    const lockNow = await readFile(join(candidateRoot, 'package-lock.json'), 'utf8').catch(() => '');
    const lockThen = await git(candidateRoot, ['show', `${commit}:package-lock.json`]).catch(() => '');
    if (lockNow !== '' && lockNow === lockThen && existsSync(join(candidateRoot, 'node_modules'))) {
      await symlink(join(candidateRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
      notes.push('baseline reuses the candidate node_modules (package-lock.json unchanged)');
    } else {
      log('package-lock.json changed: npm ci in the baseline worktree (slow)');
      const ci = await runCommand('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir });
      if (ci.code !== 0) throw new Error(`npm ci in the baseline worktree failed: ${ci.stderr.slice(-500)}`);
      // --ignore-scripts kept the root's own install and prepare out, and also every dependency's native build
      // (better-sqlite3): rebuild the dependencies, which runs their install scripts and not the root's.
      const rebuild = await runCommand('npm', ['rebuild', '--no-audit', '--no-fund'], { cwd: dir });
      if (rebuild.code !== 0) {
        throw new Error(`npm rebuild in the baseline worktree failed: ${rebuild.stderr.slice(-500)}`);
      }
      notes.push('baseline ran npm ci and rebuilt its dependencies (package-lock.json changed)');
    }
    log(`building baseline ${commit.slice(0, 10)} in ${dir}`);
    // tsc directly: `npm run build` would also run npm's pre-hooks.
    const tsc = await runCommand(
      process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: dir },
    );
    if (tsc.code !== 0) throw new Error(`baseline build (tsc) failed: ${(tsc.stdout + tsc.stderr).slice(-1500)}`);
    if (existsSync(join(dir, 'binding.gyp'))) notes.push(await prepareNative(candidateRoot, dir, commit, log));
  } catch (error) {
    await remove();
    throw error;
  }
  return { root: dir, commit, notes, remove };
}

async function prepareNative(
  candidateRoot: string, dir: string, commit: string, log: (message: string) => void,
): Promise<string> {
  const diff = await runCommand('git', ['-C', candidateRoot, 'diff', '--quiet', commit, '--', 'native', 'binding.gyp']);
  const unchanged = diff.code === 0;
  if (unchanged) {
    for (const folder of ['build', 'prebuilds']) {
      if (existsSync(join(candidateRoot, folder))) await symlink(join(candidateRoot, folder), join(dir, folder), 'dir');
    }
    return 'baseline reuses the candidate native addon build (native/ and binding.gyp unchanged)';
  }
  log('native/ or binding.gyp changed: building the baseline native addon');
  // Run directly, node-gyp does not read .npmrc: pass npm's nodedir on (offline machines have headers there).
  const nodedir = process.env.npm_config_nodedir;
  const gypArgs = [
    join(dir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), 'rebuild',
    ...(nodedir ? [`--nodedir=${nodedir}`] : []),
  ];
  const gyp = await runCommand(process.execPath, gypArgs, { cwd: dir });
  if (gyp.code !== 0) {
    return `baseline native addon build failed (the baseline runs its JS engine): ${gyp.stderr.slice(-300)}`;
  }
  return 'baseline native addon rebuilt (native/ or binding.gyp changed)';
}
