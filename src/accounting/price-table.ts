import type { PriceConfig, PricingConfig } from '../config/types.js';

/** Model strings come from clients: the lookup cache is bounded, and cleared when full. */
const CACHE_MAX = 4096;

/**
 * The prices in force: `prices:` globs in order, then `pricesFile:` names exactly (and without a `provider/`
 * prefix). A price per million tokens is a price in millionths per token, so a cost in micro-units is the sum of
 * tokens × price, rounded once per request.
 */
export class PriceTable {
  readonly config: PricingConfig;
  private readonly rules: readonly { readonly re: RegExp; readonly price: PriceConfig }[];
  private readonly cache = new Map<string, PriceConfig | null>();
  /** Requests booked with no price (cost 0). */
  unpriced = 0;

  constructor(config: PricingConfig) {
    this.config = config;
    this.rules = config.rules.map((rule) => ({ re: globRegExp(rule.glob), price: rule }));
  }

  get empty(): boolean {
    return this.rules.length === 0 && this.config.file === null;
  }

  /** The price of `model`, or null when it has none. */
  lookup(model: string): PriceConfig | null {
    const hit = this.cache.get(model);
    if (hit !== undefined) return hit;
    const price = this.find(model);
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(model, price);
    return price;
  }

  /** Cost in micro-units, or -1 when the model has no price (counted as unpriced). */
  cost(model: string | null, input: number, cacheRead: number, cacheWrite: number, output: number,
    reasoning: number): number {
    const p = model === null ? null : this.lookup(model);
    if (p === null) {
      this.unpriced++;
      return -1;
    }
    return Math.round(
      input * p.input + cacheRead * p.cacheRead + cacheWrite * p.cacheWrite + output * p.output +
        reasoning * p.reasoning,
    );
  }

  private find(model: string): PriceConfig | null {
    for (const rule of this.rules) if (rule.re.test(model)) return rule.price;
    const models = this.config.models;
    const exact = models[model];
    if (exact !== undefined) return exact;
    const slash = model.indexOf('/');
    return slash === -1 ? null : (models[model.slice(slash + 1)] ?? null);
  }
}

/** `*` any run of characters, `?` one; the rest literal (as the gateway's model globs). */
function globRegExp(glob: string): RegExp {
  let re = '^';
  for (const ch of glob) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(re + '$', 's');
}
