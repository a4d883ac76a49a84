import type { ProxyRuleAction, ProxyRuleConfig } from '../../../config/types.js';
import { RangeTable, type RangeEntry } from '../../../geo/ranges.js';
import { parseCidr } from '../../../util/cidr.js';
import type { IpKey } from '../../../util/ip.js';
import { DomainSet } from './domain-set.js';
import type { RuleSetData } from './rule-set-file.js';

/** evaluate(): no rule matched (the final action applies). */
export const NO_MATCH = -1;
/** evaluate(): the next step needs the destination's address (resolve it, set `key`, call again). */
export const NEEDS_ADDRESS = -2;
/** evaluate(): the next step needs the address's country (look it up, set `country`, call again). */
export const NEEDS_COUNTRY = -3;

/** One routing decision in progress: what is known about the destination, and the step to resume at. */
export class RouteQuery {
  /** Lower case, no trailing dot; null for an IP literal. */
  name: string | null;
  port: number;
  /** The address (a literal or the resolved name); null when unknown or unresolvable. */
  ip: string | null;
  key: IpKey | null;
  /** False until a name was resolved (an IP literal is resolved from the start). */
  resolved: boolean;
  country: string | null;
  countryKnown: boolean;
  step: number;
  constructor(name: string | null, port: number, ip: string | null, key: IpKey | null) {
    this.name = name;
    this.port = port;
    this.ip = ip;
    this.key = key;
    this.resolved = name === null;
    this.country = null;
    this.countryKnown = false;
    this.step = 0;
  }
}

/**
 * A compiled step: consecutive inline domain rules share one DomainSet (answering the first rule of the block that
 * matches); every other rule is a step of its own. All fields exist on every step (one shape).
 */
class Step {
  domains: DomainSet | null = null;
  /** Rule index of the DomainSet's index 0 (rule sets hold index 0; merged blocks hold real indices, base 0). */
  domainBase = 0;
  ranges: RangeTable | null = null;
  /** Merged `ip` rules: each range's label is its rule's index (else the range table answers `rule`). */
  rangeLabels = false;
  /** Countries (geoip); `anyCountry`: every address with a known country (the presets' "not listed" rule). */
  countries: ReadonlySet<string> | null = null;
  anyCountry = false;
  /** Port rules: one byte per port (1: matches). */
  ports: Uint8Array | null = null;
  rule: number;
  constructor(rule: number) {
    this.rule = rule;
  }
}

/** Rules compiled for matching: a domain hash map walk, a range table binary search, a set probe per step. */
export class RuleTable {
  readonly actions: readonly ProxyRuleAction[];
  private readonly steps: Step[];

  /**
   * `rules` in order; `sets` by name (a rule naming a set not loaded matches nothing). Rules with an empty
   * `values` list match nothing.
   */
  constructor(rules: readonly ProxyRuleConfig[], sets: ReadonlyMap<string, RuleSetData>) {
    const steps: Step[] = [];
    const actions: ProxyRuleAction[] = [];
    let block: Step | null = null;
    /** Consecutive `ip` rules with one action share a range table (any of them gives the same action). */
    let ipBlock: RangeEntry[] | null = null;
    let ipStep: Step | null = null;
    const closeIpBlock = (): void => {
      if (ipStep !== null) ipStep.ranges = new RangeTable(ipBlock!);
      ipBlock = null;
      ipStep = null;
    };
    for (let i = 0; i < rules.length; i++) {
      const { match, action } = rules[i]!;
      actions.push(action);
      const { kind, values } = match;
      if (kind === 'ip') {
        block = null;
        if (ipStep === null || actions[ipStep.rule] !== action) {
          closeIpBlock();
          ipStep = new Step(i);
          ipStep.rangeLabels = true;
          ipBlock = [];
          steps.push(ipStep);
        }
        rangesOf(values, String(i), ipBlock!);
        continue;
      }
      closeIpBlock();
      if (kind === 'domain' || kind === 'domainSuffix' || kind === 'domainKeyword') {
        if (block === null) {
          block = new Step(i);
          block.domains = new DomainSet();
          steps.push(block);
        }
        for (const v of values) {
          if (kind === 'domain') block.domains!.addFull(v, i);
          else if (kind === 'domainSuffix') block.domains!.addSuffix(v, i);
          else block.domains!.addKeyword(v, i);
        }
        continue;
      }
      block = null;
      const step = new Step(i);
      if (kind === 'geoip') {
        if (values.includes('*')) step.anyCountry = true;
        else step.countries = new Set(values);
      } else if (kind === 'port') setPorts(step, values);
      else {
        const set = sets.get(values[0]!);
        if (set !== undefined) {
          if (set.domains.size > 0) {
            step.domains = set.domains;
            step.domainBase = i;
          }
          if (set.ranges.size > 0) step.ranges = set.ranges;
        }
      }
      steps.push(step);
    }
    closeIpBlock();
    this.steps = steps;
    this.actions = actions;
  }

  /** Whether any step needs the destination's country (so a geo resolver is worth asking). */
  get usesCountries(): boolean {
    return this.steps.some((s) => s.countries !== null || s.anyCountry);
  }

  /**
   * The first matching rule's index from `q.step` on, NO_MATCH, or NEEDS_ADDRESS / NEEDS_COUNTRY with `q.step` at
   * the step that asked (fill the query in and call again). No allocation per step.
   */
  evaluate(q: RouteQuery): number {
    const steps = this.steps;
    for (let s = q.step; s < steps.length; s++) {
      const step = steps[s]!;
      if (step.domains !== null && q.name !== null) {
        const hit = step.domains.match(q.name);
        if (hit !== -1) return hit + step.domainBase;
      }
      if (step.ports !== null) {
        if (step.ports[q.port] === 1) return step.rule;
        continue;
      }
      if (step.ranges !== null) {
        if (!q.resolved) {
          q.step = s;
          return NEEDS_ADDRESS;
        }
        if (q.key === null) continue;
        const label = step.ranges.lookup(q.key);
        if (label !== null) return step.rangeLabels ? +label : step.rule;
        continue;
      }
      if (step.countries !== null || step.anyCountry) {
        if (!q.resolved) {
          q.step = s;
          return NEEDS_ADDRESS;
        }
        if (q.key === null) continue;
        if (!q.countryKnown) {
          q.step = s;
          return NEEDS_COUNTRY;
        }
        if (q.country !== null && (step.anyCountry || step.countries!.has(q.country))) return step.rule;
      }
    }
    q.step = steps.length;
    return NO_MATCH;
  }
}

/** Adds the CIDRs to `out`, labelled `label` (where ranges of one block overlap, either rule may be reported). */
function rangesOf(values: readonly string[], label: string, out: RangeEntry[]): void {
  for (const v of values) {
    const r = parseCidr(v);
    if (typeof r === 'string') continue;
    out.push(r.v === 4
      ? { v: 4, start: r.lo, end: r.hi, country: label }
      : { v: 6, start: r.loHex, end: r.hiHex, country: label });
  }
}

function setPorts(step: Step, values: readonly string[]): void {
  const ports = new Uint8Array(65536);
  for (const v of values) {
    const [a, b] = v.split('-');
    const from = Number(a);
    const to = b === undefined ? from : Number(b);
    ports.fill(1, from, to + 1);
  }
  step.ports = ports;
}
