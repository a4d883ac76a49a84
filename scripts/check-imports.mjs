#!/usr/bin/env node
// Import checker for src/: no import circles (type-only imports count) and subsystems import downward only.
// Usage: node scripts/check-imports.mjs [srcDir] [layersJson]. Exit 0 when clean, 1 with one problem per line.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const here = dirname(fileURLToPath(import.meta.url));

/** Every .ts file under `dir` (sorted, so reports are stable). */
function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walk(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Relative specifiers of one file: import, import type, export ... from, import() of a literal. */
function specifiers(text) {
  const info = ts.preProcessFile(text, true, true);
  return info.importedFiles.map((f) => f.fileName).filter((s) => s.startsWith('./') || s.startsWith('../'));
}

/** Specifiers a file imports for their values (not `import type`, `export type` or all-`type` named lists). */
function valueSpecifiers(path, text) {
  const file = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out = [];
  for (const node of file.statements) {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      if (clause?.isTypeOnly) continue;
      const named = clause?.namedBindings;
      const allTypes = clause !== undefined && clause.name === undefined && named !== undefined
        && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
      if (!allTypes) out.push(node.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined && !node.isTypeOnly) {
      const named = node.exportClause;
      const allTypes = named !== undefined && ts.isNamedExports(named) && named.elements.every((e) => e.isTypeOnly);
      if (!allTypes) out.push(node.moduleSpecifier.text);
    }
  }
  return out;
}

/** The .ts file a `./x.js` specifier names (NodeNext style), or null when it is not in the tree. */
function resolveSpecifier(from, spec) {
  const base = resolve(dirname(from), spec);
  const candidates = [base.replace(/\.(m|c)?js$/, '.$1ts'), base, `${base}.ts`, join(base, 'index.ts')];
  for (const c of candidates) if (c.endsWith('.ts') && existsSync(c) && statSync(c).isFile()) return c;
  return null;
}

/** The layer key of a file: its first folder under src/, or its name without .ts for a root file. */
function unitOf(root, file) {
  const rel = relative(root, file).split(sep);
  return rel.length > 1 ? rel[0] : rel[0].replace(/\.ts$/, '');
}

/** Tarjan's strongly connected components (iterative, so deep trees do not overflow the stack). */
function components(nodes, edges) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const out = [];
  for (const start of nodes) {
    if (idx.has(start)) continue;
    const work = [[start, 0]];
    idx.set(start, index); low.set(start, index); index++;
    stack.push(start); onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      const [v, i] = frame;
      const next = edges.get(v) ?? [];
      if (i < next.length) {
        frame[1]++;
        const w = next[i];
        if (!idx.has(w)) {
          idx.set(w, index); low.set(w, index); index++;
          stack.push(w); onStack.add(w);
          work.push([w, 0]);
        } else if (onStack.has(w)) {
          low.set(v, Math.min(low.get(v), idx.get(w)));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent), low.get(v)));
      }
      if (low.get(v) === idx.get(v)) {
        const comp = [];
        let w;
        do { w = stack.pop(); onStack.delete(w); comp.push(w); } while (w !== v);
        if (comp.length > 1 || (edges.get(v) ?? []).includes(v)) out.push(comp.sort());
      }
    }
  }
  return out;
}

/** One cycle through `start` inside the component (breadth-first, so the path is a shortest one). */
function cyclePath(start, comp, edges) {
  const inComp = new Set(comp);
  const prev = new Map();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift();
    for (const w of edges.get(v) ?? []) {
      if (!inComp.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u = v; u !== start; u = prev.get(u)) path.splice(1, 0, u);
        path.push(start);
        return path;
      }
      if (!prev.has(w)) { prev.set(w, v); queue.push(w); }
    }
  }
  return [start, start];
}

/**
 * Checks `srcDir` against the layer table in `layersFile`. Returns the problems as lines (empty when clean).
 * A unit may import its own files and any unit of a lower layer; a unit listed in `typeOnly` imports types only.
 */
export function checkImports(srcDir, layersFile = join(here, 'layers.json')) {
  const root = resolve(srcDir);
  const table = JSON.parse(readFileSync(layersFile, 'utf8'));
  const layers = table.layers;
  const typeOnly = new Set(table.typeOnly ?? []);
  const rank = new Map();
  layers.forEach((units, i) => { for (const u of units) rank.set(u, i); });
  const files = walk(root);
  const edges = new Map();
  const problems = [];
  const show = (f) => {
    const rel = relative(process.cwd(), f);
    return rel === '' || rel.startsWith('..') ? f : rel;
  };
  for (const file of files) {
    const targets = [];
    const fromUnit = unitOf(root, file);
    if (!rank.has(fromUnit)) problems.push(`unlayered: ${show(file)} (add "${fromUnit}" to ${show(layersFile)})`);
    const text = readFileSync(file, 'utf8');
    if (typeOnly.has(fromUnit)) {
      for (const spec of valueSpecifiers(file, text)) {
        problems.push(`type-only: ${show(file)} imports '${spec}' for its values (${fromUnit}/ holds types only)`);
      }
    }
    for (const spec of specifiers(text)) {
      const target = resolveSpecifier(file, spec);
      if (target === null) { problems.push(`unresolved: ${show(file)} imports '${spec}'`); continue; }
      if (!target.startsWith(root + sep)) continue;
      targets.push(target);
      const toUnit = unitOf(root, target);
      if (toUnit === fromUnit || !rank.has(fromUnit) || !rank.has(toUnit)) continue;
      const a = rank.get(fromUnit);
      const b = rank.get(toUnit);
      if (b > a) {
        problems.push(`layer: ${show(file)} (${fromUnit}, layer ${a}) imports ${show(target)} (${toUnit}, layer ${b})`);
      } else if (b === a) {
        const sibling = `${show(target)} (${toUnit}), a sibling in layer ${a}`;
        problems.push(`layer: ${show(file)} (${fromUnit}) imports ${sibling}`);
      }
    }
    edges.set(file, [...new Set(targets)].sort());
  }
  for (const comp of components(files, edges)) {
    const path = cyclePath(comp[0], comp, edges).map(show).join(' -> ');
    problems.push(`circle: ${comp.length} files (${comp.map(show).join(', ')}); e.g. ${path}`);
  }
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const srcDir = process.argv[2] ?? join(here, '..', 'src');
  const problems = checkImports(srcDir, process.argv[3]);
  for (const p of problems) console.log(p);
  if (problems.length > 0) {
    console.error(`check-imports: ${problems.length} problem(s) in ${relative(process.cwd(), resolve(srcDir)) || '.'}`);
    process.exit(1);
  }
  console.log('check-imports: no circles, no layer violations');
}
