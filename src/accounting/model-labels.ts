import type { Config } from '../config/schema.js';

/** The label value of a model no configured name mentions (clients choose model names: they are not label values). */
export const OTHER_MODEL = 'other';
/** The label value of a request with no model. */
export const NO_MODEL = 'none';

/**
 * The one rule for `model` label values in /metrics (spend meters and traffic metrics alike): a model name is its own
 * label value only when a gateway service's config writes it out — a channel's `models` (globs give no names),
 * `modelMap` keys and values, rules' `match.model` and `model`; any other name is `other`. Label sets stay bounded by
 * the config whatever clients send.
 */
export class ModelLabels {
  private of: Config | null = null;
  private names = new Map<string, ReadonlySet<string>>();

  /** Takes the names of `config` (rebuilt only when a reload replaced it: configs are frozen, new per reload). */
  use(config: Config): void {
    if (config === this.of) return;
    this.of = config;
    this.names = namesOf(config);
  }

  label(service: string, model: string | null): string {
    if (model === null) return NO_MODEL;
    return this.names.get(service)?.has(model) === true ? model : OTHER_MODEL;
  }
}

function namesOf(config: Config): Map<string, ReadonlySet<string>> {
  const models = new Map<string, ReadonlySet<string>>();
  for (const s of config.services) {
    if (s.type !== 'gateway') continue;
    const names = new Set<string>();
    const add = (m: string | null): void => {
      if (m !== null && !/[*?[]/.test(m)) names.add(m);
    };
    for (const c of s.channels) {
      c.models.forEach(add);
      for (const [from, to] of Object.entries(c.modelMap)) {
        add(from);
        add(to);
      }
    }
    for (const r of s.rules) {
      add(r.match.model);
      add(r.model);
    }
    models.set(s.name, names);
  }
  return models;
}
