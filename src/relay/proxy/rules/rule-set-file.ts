import { RuleSetError } from '../../../errors.js';
import { RangeTable, type RangeEntry } from '../../../geo/ranges.js';
import { parseCidr } from '../../../util/cidr.js';
import { contentLines } from '../../../util/lines.js';
import { DomainSet } from './domain-set.js';

export type RuleSetFormat = 'domains' | 'cidrs' | 'v2ray' | 'auto';

/** One parsed rule-set file: its domains (rule index 0) and its address ranges. */
export class RuleSetData {
  readonly domains: DomainSet;
  readonly ranges: RangeTable;
  readonly entries: number;
  constructor(domains: DomainSet, ranges: RangeTable, entries: number) {
    this.domains = domains;
    this.ranges = ranges;
    this.entries = entries;
  }
}

/** The label the range table carries (it keeps one label per range; a rule set needs only "inside"). */
const IN_SET = 'ZZ';
const COMMENT = /#/;
const NAME_RE = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/i;

/**
 * Parses a rule-set file. `domains`: one name per line, matching itself and its subdomains (`+.` / `.` prefixes
 * allowed); `full:` lines match one name exactly. `cidrs`: chnroutes-style `CIDR` or bare address lines. `v2ray`:
 * `domain:`, `full:`, `keyword:` lines (a trailing ` @attr` is ignored; `regexp:` and `include:` are refused).
 * `auto`: each line as whichever of these it is. `#` starts a comment. Any line it cannot use is an error naming
 * the line, never skipped.
 */
export function parseRuleSet(text: string, file: string, format: RuleSetFormat): RuleSetData {
  const domains = new DomainSet();
  const ranges: RangeEntry[] = [];
  let entries = 0;
  for (const { text: line, lineNo } of contentLines(text, COMMENT)) {
    const problem = parseLine(line, format, domains, ranges);
    if (problem !== null) throw new RuleSetError(file, `line ${lineNo}: ${problem} ("${line.slice(0, 80)}")`);
    entries++;
  }
  return new RuleSetData(domains, new RangeTable(ranges), entries);
}

function parseLine(line: string, format: RuleSetFormat, domains: DomainSet, ranges: RangeEntry[]): string | null {
  if (format === 'cidrs') return addRange(line, ranges);
  if (format === 'auto' && /^[0-9a-f:.]+(?:\/\d+)?$/i.test(line) && (line.includes(':') || /^[\d./]+$/.test(line))) {
    return addRange(line, ranges);
  }
  const colon = line.indexOf(':');
  const prefix = colon === -1 ? '' : line.slice(0, colon);
  if (colon !== -1 && (format === 'v2ray' || format === 'auto' || prefix === 'full')) {
    // v2ray attributes (`domain:x.cn @cn`) say nothing tidegate routes by.
    const value = line.slice(colon + 1).split(/\s+/)[0]!;
    switch (prefix) {
      case 'domain': return addName(value, domains, false);
      case 'full': return addName(value, domains, true);
      case 'keyword':
        if (value === '') return 'expected a word after "keyword:"';
        domains.addKeyword(value, 0);
        return null;
      case 'regexp':
        return 'regexp: rules are not supported (use domain:, full: or keyword:)';
      case 'include':
        return 'include: is not supported (list the included file as its own rule set)';
      default:
        return `unknown prefix "${prefix}:" (expected domain:, full: or keyword:)`;
    }
  }
  if (format === 'v2ray' || format === 'domains' || format === 'auto') {
    const name = line.startsWith('+.') ? line.slice(2) : line.startsWith('.') ? line.slice(1) : line;
    return addName(name, domains, false);
  }
  return 'unreadable line';
}

function addName(name: string, domains: DomainSet, full: boolean): string | null {
  if (!NAME_RE.test(name)) return `expected a domain name, got "${name}"`;
  if (full) domains.addFull(name, 0);
  else domains.addSuffix(name, 0);
  return null;
}

function addRange(text: string, ranges: RangeEntry[]): string | null {
  const range = parseCidr(text);
  if (typeof range === 'string') return range;
  ranges.push(range.v === 4
    ? { v: 4, start: range.lo, end: range.hi, country: IN_SET }
    : { v: 6, start: range.loHex, end: range.hiHex, country: IN_SET });
  return null;
}
