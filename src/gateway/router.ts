import type { BalanceStrategy, GatewayServiceConfig, RuleConfig } from '../config/schema.js';
import type { Channel } from './channel.js';
import type { Endpoint } from './endpoints.js';
import { compileGlob, GlobSet } from './glob.js';

/** The channels a request may go to, and how to choose among them. Shared by every request that routes alike. */
export class Route {
  /** Rule index (or -1 for the default route), for logs and the balancer's per-route cursors. */
  readonly rule: number;
  readonly channels: readonly Channel[];
  readonly strategy: BalanceStrategy;
  /** Round-robin cursor and smooth-weighted state live on the route, so each route balances on its own. */
  cursor = 0;
  readonly currentWeights: Float64Array;

  constructor(rule: number, channels: readonly Channel[], strategy: BalanceStrategy) {
    this.rule = rule;
    this.channels = channels;
    this.strategy = strategy;
    this.currentWeights = new Float64Array(channels.length);
  }
}

interface CompiledRule {
  readonly index: number;
  readonly model: RegExp | null;
  readonly path: RegExp | null;
  readonly header: { readonly name: string; readonly value: string } | null;
  readonly channels: readonly Channel[];
  readonly strategy: BalanceStrategy;
}

/** Resolved routes are cached per (endpoint, model); the cache is bounded and rebuilt with the config. */
const ROUTE_CACHE_MAX = 4096;

/**
 * Routing rules (model glob, path glob, header equality) → a channel set and a strategy. First matching rule wins;
 * no rule → every channel. Channels are then narrowed to those that serve the model and the endpoint.
 */
export class Router {
  private readonly rules: readonly CompiledRule[];
  private readonly all: readonly Channel[];
  private readonly defaultStrategy: BalanceStrategy;
  private readonly hasHeaderRules: boolean;
  private readonly cache = new Map<string, Route>();

  constructor(config: GatewayServiceConfig, channels: ReadonlyMap<string, Channel>) {
    this.all = [...channels.values()];
    this.defaultStrategy = config.strategy;
    this.rules = config.rules.map(function compileRule(rule: RuleConfig, index: number): CompiledRule {
      return {
        index,
        model: rule.match.model === null ? null : compileGlob(rule.match.model),
        path: rule.match.path === null ? null : compileGlob(rule.match.path),
        header: rule.match.header,
        channels: rule.channels.map((name) => channels.get(name)!).filter((c) => c !== undefined),
        strategy: rule.strategy ?? config.strategy,
      };
    });
    this.hasHeaderRules = this.rules.some((r) => r.header !== null);
  }

  /** The route for a request; `headers` is only read when some rule matches on a header. */
  route(endpoint: Endpoint, model: string, headers: NodeJS.Dict<string | string[]>): Route {
    let index = -2;
    let key: string;
    if (this.hasHeaderRules) {
      index = this.matchRule(endpoint, model, headers);
      key = index + '\0' + endpoint.path + '\0' + model;
    } else key = endpoint.path + '\0' + model;
    let route = this.cache.get(key);
    if (route === undefined) {
      if (index === -2) index = this.matchRule(endpoint, model, headers);
      const rule = index >= 0 ? this.rules[index]! : null;
      route = rule === null
        ? new Route(-1, eligible(this.all, endpoint, model), this.defaultStrategy)
        : new Route(rule.index, eligible(rule.channels, endpoint, model), rule.strategy);
      if (this.cache.size >= ROUTE_CACHE_MAX) this.cache.clear();
      this.cache.set(key, route);
    }
    return route;
  }

  private matchRule(endpoint: Endpoint, model: string, headers: NodeJS.Dict<string | string[]>): number {
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i]!;
      if (rule.model !== null && !rule.model.test(model)) continue;
      if (rule.path !== null && !rule.path.test(endpoint.path)) continue;
      if (rule.header !== null && headers[rule.header.name] !== rule.header.value) continue;
      return i;
    }
    return -1;
  }
}

function eligible(channels: readonly Channel[], endpoint: Endpoint, model: string): Channel[] {
  return channels.filter((c) => endpoint.servedBy[c.kind] && c.models.matches(model));
}

export { GlobSet };
