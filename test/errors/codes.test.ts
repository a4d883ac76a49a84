import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import * as errors from '../../src/errors.js';
import { ERROR_CLASSES, ERROR_CODES, TidegateError, UsageError } from '../../src/errors.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CODE_RE = /^TG_ERR_[A-Z][A-Z0-9_]*$/;

type AnyClass = abstract new (...args: never[]) => unknown;

/** Every class errors.ts exports that is TidegateError or extends it. */
function exportedErrorClasses(): Map<string, AnyClass> {
  const found = new Map<string, AnyClass>();
  for (const [name, value] of Object.entries(errors)) {
    if (typeof value !== 'function') continue;
    if (value === TidegateError || value.prototype instanceof TidegateError) found.set(name, value as AnyClass);
  }
  return found;
}

function codeOf(c: AnyClass): unknown {
  return (c as unknown as { code?: unknown }).code;
}

/** The codes in the README's `## Errors` table, one entry per mention (a row may name several, ` / `-separated). */
async function readmeCodes(): Promise<string[]> {
  const text = await readFile(join(ROOT, 'README.md'), 'utf8');
  const start = text.indexOf('\n## Errors\n');
  assert.ok(start >= 0, 'README.md has a "## Errors" section');
  const next = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, next < 0 ? undefined : next);
  const codes: string[] = [];
  for (const line of section.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const cell = line.split('|')[1]!.trim();
    for (const part of cell.split(' / ')) {
      const m = /^`([^`]+)`$/.exec(part.trim());
      assert.ok(m, `README error row names its codes in backticks, separated by " / ": ${JSON.stringify(line)}`);
      codes.push(m[1]!);
    }
  }
  return codes;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(path)));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** String and template literals (comments are trivia to the parser, so they never count) that mention `TG_ERR_`. */
function codeLiterals(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const hits: string[] = [];
  function visit(node: ts.Node): void {
    if (ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node)) {
      if (node.text.includes('TG_ERR_')) {
        const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
        hits.push(`${line + 1}: ${node.getText(source)}`);
      }
    }
    ts.forEachChild(node, visit);
  }
  visit(source);
  return hits;
}

describe('error codes', () => {
  it('every exported error class is registered in ERROR_CLASSES, or is an abstract base other classes extend', () => {
    const exported = exportedErrorClasses();
    const registered = new Set<unknown>(ERROR_CLASSES);
    assert.equal(registered.size, ERROR_CLASSES.length, 'ERROR_CLASSES lists each class once');
    for (const c of ERROR_CLASSES) {
      assert.equal(exported.get(c.name), c, `${c.name} in ERROR_CLASSES is exported by errors.ts`);
    }
    const all = [...exported.values()];
    for (const [name, c] of exported) {
      if (typeof codeOf(c) === 'string') {
        assert.ok(registered.has(c), `${name} has a code but is missing from ERROR_CLASSES`);
      } else {
        assert.ok(!registered.has(c), `${name} in ERROR_CLASSES declares no static code`);
        const extended = all.some((other) => other.prototype instanceof c);
        assert.ok(extended, `${name} declares no static code and no class extends it`);
      }
    }
    assert.ok(ERROR_CLASSES.length >= 40, `ERROR_CLASSES has ${ERROR_CLASSES.length} classes`);
  });

  it('every class has a stable TG_ERR_ code, unique to it unless it refines its parent', () => {
    const owner = new Map<string, string>();
    for (const c of ERROR_CLASSES) {
      assert.match(c.code, CODE_RE, c.name);
      const parent = Object.getPrototypeOf(c) as AnyClass;
      if (!Object.hasOwn(c, 'code')) {
        // A refinement (SocksRefusal of ProxyHandshakeError) keeps its parent's code; the reply differs, the code not.
        assert.equal(codeOf(parent), c.code, `${c.name} inherits ${c.code}`);
        continue;
      }
      assert.equal(owner.get(c.code), undefined, `${c.code} is declared by both ${owner.get(c.code)} and ${c.name}`);
      owner.set(c.code, c.name);
    }
    assert.deepEqual([...ERROR_CODES].sort(), [...owner.keys()].sort(), 'ERROR_CODES is the set of declared codes');
    assert.ok(Object.isFrozen(ERROR_CODES) && Object.isFrozen(ERROR_CLASSES));
  });

  it('an instance carries its class code as an own field, in JSON and in logs', () => {
    const e = new UsageError('expected a config file, got nothing');
    assert.equal(e.code, 'TG_ERR_USAGE');
    assert.equal(e.code, UsageError.code);
    assert.ok(Object.hasOwn(e, 'code'));
    assert.equal(e.name, 'UsageError');
    const json: unknown = JSON.parse(JSON.stringify(e));
    assert.deepEqual(json, { code: 'TG_ERR_USAGE', message: 'expected a config file, got nothing' });
    const refusal = new errors.SocksRefusal('port 0', 0x01, 'malformed');
    assert.ok(refusal instanceof errors.ProxyHandshakeError);
    assert.deepEqual([refusal.code, refusal.reason, refusal.reply], ['TG_ERR_PROXY_HANDSHAKE', 'malformed', 0x01]);
  });

  it("the README's Errors table lists exactly the codes errors.ts defines, each once", async () => {
    const listed = await readmeCodes();
    const duplicates = listed.filter((code, i) => listed.indexOf(code) !== i);
    assert.deepEqual(duplicates, [], 'codes listed twice in the README');
    const defined = new Set(ERROR_CODES);
    assert.deepEqual(listed.filter((code) => !defined.has(code)), [], 'README codes that errors.ts does not define');
    const missing = ERROR_CODES.filter((code) => !listed.includes(code));
    assert.deepEqual(missing, [], 'codes errors.ts defines that the README misses');
  });

  it('no source file outside errors.ts spells a TG_ERR_ code: replies and logs take it from a class', async () => {
    const src = join(ROOT, 'src');
    const files = await sourceFiles(src);
    assert.ok(files.length > 50, `scanned ${files.length} files`);
    const found: string[] = [];
    for (const file of files) {
      if (relative(src, file) === 'errors.ts') continue;
      const text = await readFile(file, 'utf8');
      for (const hit of codeLiterals(file, text)) found.push(`src/${relative(src, file)}:${hit}`);
    }
    assert.deepEqual(found, []);
  });

  it('the scan sees literals of every quoting and ignores comments', () => {
    const sample = [
      "// 'TG_ERR_IN_A_COMMENT'",
      '/* `TG_ERR_IN_A_BLOCK` */',
      "const a = 'TG_ERR_SINGLE';",
      'const b = "TG_ERR_DOUBLE";',
      'const c = `TG_ERR_TEMPLATE`;',
      'const d = `x ${a} TG_ERR_TAIL`;',
      "const e = /['\"`]/.test(a) ? 'http://x' : a; // TG_ERR_AFTER_CODE",
    ].join('\n');
    assert.deepEqual(
      codeLiterals('sample.ts', sample).map((hit) => hit.split(': ')[0]),
      ['3', '4', '5', '6'],
    );
  });
});
