import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DEFAULTS } from '../defaults.js';
import type { PriceConfig, PricingConfig } from '../types.js';
import { join, type Reader } from '../validator.js';

const PRICE_KEYS = ['input', 'output', 'cacheRead', 'cacheWrite', 'reasoning', 'currency'];

/**
 * `prices:` (model glob → prices per million tokens), `pricesFile:` (LiteLLM's model_prices_and_context_window.json,
 * read when the config is loaded: a file that is missing or malformed is an error at `pricesFile`, so a reload that
 * cannot read it is refused and the old table stays) and `unpriced:`. Every price must be in one currency.
 */
export function readPricing(
  r: Reader, prices: unknown, pricesFile: unknown, unpriced: unknown, source: string | undefined,
): PricingConfig {
  const rules: ({ glob: string } & PriceConfig)[] = [];
  if (prices !== undefined && prices !== null) {
    if (typeof prices !== 'object' || Array.isArray(prices)) {
      r.fail('prices', 'expected a map of model globs to prices, like { "gpt-4o*": { input: 2.5, output: 10 } }');
    } else {
      for (const [glob, value] of Object.entries(prices as Record<string, unknown>)) {
        const price = readPrice(r, join('prices', glob), value);
        if (price !== null) rules.push({ glob, ...price });
      }
    }
  }
  const fileName = r.string('pricesFile', pricesFile, null);
  let models: Record<string, PriceConfig> = {};
  let file: string | null = null;
  if (fileName !== null && fileName !== '') {
    file = source === undefined ? resolve(fileName) : resolve(dirname(source), fileName);
    models = readPricesFile(r, file);
  }
  const currencies = new Set([...rules.map((p) => p.currency), ...Object.values(models).map((p) => p.currency)]);
  if (currencies.size > 1) {
    r.fail('prices',
      `every price must be in one currency (budgets and meters sum them), got ${[...currencies].join(', ')}`);
  }
  return {
    rules,
    file,
    models,
    unpriced: r.oneOf('unpriced', unpriced, ['count', 'refuse'] as const, DEFAULTS.unpriced),
    currency: currencies.size === 0 ? null : [...currencies][0]!,
  };
}

function readPrice(r: Reader, path: string, value: unknown): PriceConfig | null {
  const o = r.object(path, value, PRICE_KEYS);
  if (o.input === undefined && o.output === undefined) {
    r.fail(path, 'expected at least `input` and `output` prices per million tokens');
    return null;
  }
  const input = r.number(join(path, 'input'), o.input, 0);
  const output = r.number(join(path, 'output'), o.output, 0);
  const currency = r.string(join(path, 'currency'), o.currency, DEFAULTS.price.currency);
  if (!/^[A-Z]{3}$/.test(currency)) r.fail(join(path, 'currency'), `expected a currency code like USD, got "${currency}"`);
  return {
    input,
    output,
    cacheRead: r.number(join(path, 'cacheRead'), o.cacheRead, input),
    cacheWrite: r.number(join(path, 'cacheWrite'), o.cacheWrite, input),
    reasoning: r.number(join(path, 'reasoning'), o.reasoning, output),
    currency,
  };
}

/**
 * LiteLLM's table: model name → `input_cost_per_token`, `output_cost_per_token`, `cache_read_input_token_cost`,
 * `cache_creation_input_token_cost`, `output_cost_per_reasoning_token` (USD per token). Entries without token prices
 * (image, audio, the `sample_spec` example) are skipped; a negative or non-numeric token price is an error.
 */
function readPricesFile(r: Reader, file: string): Record<string, PriceConfig> {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    r.fail('pricesFile', `cannot read ${file}: ${(err as Error).message}`);
    return {};
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    r.fail('pricesFile', `${file}: expected an object of model names (LiteLLM's model_prices_and_context_window.json)`);
    return {};
  }
  const out: Record<string, PriceConfig> = {};
  for (const [model, entry] of Object.entries(doc as Record<string, unknown>)) {
    if (model === 'sample_spec' || entry === null || typeof entry !== 'object') continue;
    const e = entry as Record<string, unknown>;
    if (e.input_cost_per_token === undefined && e.output_cost_per_token === undefined) continue;
    const at = `pricesFile[${JSON.stringify(model)}]`;
    const perToken = (key: string, fallback: number): number => {
      const v = e[key];
      if (v === undefined || v === null) return fallback;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
        r.fail(join(at, key), `expected a price per token (a number >= 0), got ${JSON.stringify(v)}`);
        return fallback;
      }
      return v * 1e6;
    };
    const input = perToken('input_cost_per_token', 0);
    const output = perToken('output_cost_per_token', 0);
    out[model] = {
      input,
      output,
      cacheRead: perToken('cache_read_input_token_cost', input),
      cacheWrite: perToken('cache_creation_input_token_cost', input),
      reasoning: perToken('output_cost_per_reasoning_token', output),
      currency: 'USD',
    };
  }
  return out;
}
