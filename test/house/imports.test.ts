import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHECKER = join(ROOT, 'scripts', 'check-imports.mjs');

interface Run {
  readonly code: number;
  /** One problem per line (the summary goes to stderr). */
  readonly lines: string[];
  readonly stderr: string;
}

/** Runs the checker as CI does: `node scripts/check-imports.mjs [src] [layers]` from the repository root. */
function check(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CHECKER, ...args], { cwd: ROOT }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      if (code === -1) return reject(err);
      resolve({ code, lines: stdout.split('\n').filter((l) => l !== ''), stderr });
    });
  });
}

async function put(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
}

describe('check-imports', () => {
  let dir = '';
  let layers = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tidegate-imports-'));
    layers = join(dir, 'layers.json');
    await writeFile(layers, JSON.stringify({ layers: [['util'], ['low', 'peer'], ['mid'], ['high']] }));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes a tree that imports downward only, without circles', async () => {
    const src = join(dir, 'clean');
    await put(src, {
      'util.ts': 'export const one = 1;\n',
      'low/a.ts': "import { one } from '../util.js';\nexport const a = one;\n",
      'low/b.ts': "import { a } from './a.js';\nexport const b = a;\n",
      'mid/m.ts': "import type { b } from '../low/b.js';\nexport { a } from '../low/a.js';\n"
        + 'export type M = typeof b;\n',
      'high/index.ts': "export const h = async () => (await import('../mid/m.js')).a;\n",
    });
    const run = await check(src, layers);
    assert.equal(run.code, 0, run.lines.join('\n'));
    assert.deepEqual(run.lines, ['check-imports: no circles, no layer violations']);
  });

  it('reports a circle (type-only imports count) with a path through it, and exits 1', async () => {
    const src = join(dir, 'circle');
    await put(src, {
      'mid/x.ts': "import type { Y } from './y.js';\nexport interface X { y: Y }\n",
      'mid/y.ts': "import type { Z } from './z.js';\nexport interface Y { z: Z }\n",
      'mid/z.ts': "import type { X } from './x.js';\nexport interface Z { x: X }\n",
      'mid/free.ts': "import type { X } from './x.js';\nexport type Free = X;\n",
    });
    const run = await check(src, layers);
    assert.equal(run.code, 1);
    assert.equal(run.lines.length, 1, run.lines.join('\n'));
    const line = run.lines[0]!;
    assert.match(line, /^circle: 3 files /);
    for (const f of ['x.ts', 'y.ts', 'z.ts']) assert.ok(line.includes(join(src, 'mid', f)), line);
    assert.ok(!line.includes('free.ts'), line);
    assert.ok(
      line.endsWith(`e.g. ${[join(src, 'mid', 'x.ts'), join(src, 'mid', 'y.ts'), join(src, 'mid', 'z.ts'),
        join(src, 'mid', 'x.ts')].join(' -> ')}`),
      line,
    );
    assert.match(run.stderr, /1 problem/);
  });

  it('reports every upward, sibling and unlayered import on its own line, with both files', async () => {
    const src = join(dir, 'layers');
    await put(src, {
      'high/h.ts': 'export const h = 1;\n',
      'low/static.ts': "import { h } from '../high/h.js';\nexport const s = h;\n",
      'low/reexport.ts': "export { h } from '../high/h.js';\n",
      'low/dynamic.ts': "export const d = () => import('../high/h.js');\n",
      'low/typed.ts': "import type { m } from '../mid/m.js';\nexport type T = typeof m;\n",
      'mid/m.ts': 'export const m = 1;\n',
      'peer/p.ts': "import { s } from '../low/static.js';\nexport const p = s;\n",
      'stray/s.ts': 'export const stray = 1;\n',
      'mid/missing.ts': "export { gone } from './gone.js';\n",
    });
    const run = await check(src, layers);
    assert.equal(run.code, 1);
    const high = join(src, 'high', 'h.ts');
    const expected = [
      `layer: ${join(src, 'low', 'dynamic.ts')} (low, layer 1) imports ${high} (high, layer 3)`,
      `layer: ${join(src, 'low', 'reexport.ts')} (low, layer 1) imports ${high} (high, layer 3)`,
      `layer: ${join(src, 'low', 'static.ts')} (low, layer 1) imports ${high} (high, layer 3)`,
      `layer: ${join(src, 'low', 'typed.ts')} (low, layer 1) imports ${join(src, 'mid', 'm.ts')} (mid, layer 2)`,
      `unresolved: ${join(src, 'mid', 'missing.ts')} imports './gone.js'`,
      `layer: ${join(src, 'peer', 'p.ts')} (peer) imports ${join(src, 'low', 'static.ts')} (low), a sibling in layer 1`,
      `unlayered: ${join(src, 'stray', 's.ts')} (add "stray" to ${layers})`,
    ];
    assert.deepEqual(run.lines, expected);
  });

  it('reports a value import in a type-only unit, and lets its type imports pass', async () => {
    const src = join(dir, 'types');
    const table = join(dir, 'types.json');
    await writeFile(table, JSON.stringify({ layers: [['util'], ['low']], typeOnly: ['low'] }));
    await put(src, {
      'util.ts': 'export const one = 1;\nexport type One = 1;\n',
      'low/ok.ts': "import type { One } from '../util.js';\nimport { type one } from '../util.js';\n"
        + "export type { One as Uno } from '../util.js';\nexport type O = One | typeof one;\n",
      'low/bad.ts': "import { one } from '../util.js';\nexport * from '../util.js';\nexport type B = typeof one;\n",
    });
    const run = await check(src, table);
    assert.equal(run.code, 1);
    const bad = join(src, 'low', 'bad.ts');
    assert.deepEqual(run.lines, [
      `type-only: ${bad} imports '../util.js' for its values (low/ holds types only)`,
      `type-only: ${bad} imports '../util.js' for its values (low/ holds types only)`,
    ]);
  });

  it('src/ imports downward only: no layer violations against scripts/layers.json', async () => {
    const run = await check();
    const layerProblems = run.lines.filter((l) => !l.startsWith('circle: ') && !l.startsWith('check-imports: '));
    assert.deepEqual(layerProblems, []);
  });

  it('src/ has no import circles', async () => {
    const run = await check();
    assert.deepEqual(run.lines.filter((l) => l.startsWith('circle: ')), []);
    assert.equal(run.code, 0);
  });
});
