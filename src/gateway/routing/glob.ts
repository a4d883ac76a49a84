/**
 * Model-name globs (`claude-*`, `gpt-4?-mini`, `*`): `*` any run of characters, `?` one character, the rest
 * literal. Compiled once per config into a RegExp.
 */
export function compileGlob(glob: string): RegExp {
  let re = '^';
  for (const ch of glob) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(re + '$', 's');
}

/** A compiled set of globs; an empty set matches everything. */
export class GlobSet {
  private readonly exact: ReadonlySet<string>;
  private readonly patterns: readonly RegExp[];
  readonly matchesAll: boolean;

  constructor(globs: readonly string[]) {
    const exact = new Set<string>();
    const patterns: RegExp[] = [];
    for (const g of globs) {
      if (g.includes('*') || g.includes('?')) patterns.push(compileGlob(g));
      else exact.add(g);
    }
    this.exact = exact;
    this.patterns = patterns;
    this.matchesAll = globs.length === 0 || globs.includes('*');
  }

  matches(name: string): boolean {
    if (this.matchesAll || this.exact.has(name)) return true;
    for (let i = 0; i < this.patterns.length; i++) if (this.patterns[i]!.test(name)) return true;
    return false;
  }
}
