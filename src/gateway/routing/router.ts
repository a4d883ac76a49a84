import type { BalanceStrategy, GatewayServiceConfig, RuleConfig } from '../../config/schema.js';
import type { Channel } from '../upstream/channel.js';
import type { Endpoint } from './endpoints.js';
import { compileGlob, GlobSet } from './glob.js';

/** The channels a request may go to, and how to choose among them. Shared by every request that routes alike. */
export class Route {
  /** Rule index (or -1 for the default route), for logs and the balancer's per-route cursors. */
  readonly rule: number;
  readonly channels: readonly Channel[];
  readonly strategy: BalanceStrategy;
  /** The rule's model rewrite (sent upstream instead of the client's, before a channel's modelMap), or null. */
  readonly model: string | null;
  /** Round-robin cursor and smooth-weighted state live on the route, so each route balances on its own. */
  cursor = 0;
  readonly currentWeights: Float64Array;

  constructor(rule: number, channels: readonly Channel[], strategy: BalanceStrategy, model: string | null) {
    this.rule = rule;
    this.channels = channels;
    this.strategy = strategy;
    this.model = model;
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
  readonly rewrite: string | null;
}

/** Resolved routes are cached per (rule, endpoint, model); the cache is bounded and rebuilt with the config. */
const ROUTE_CACHE_MAX = 4096;

/**
 * Routes by model for one (rule, endpoint) pair. Keyed by the model string itself, so a lookup hashes the string
 * once (the hash stays on it for the request log's lookup of the same string) and never builds a joined key.
 */
type ModelRoutes = Map<string, Route>;

/**
 * Routing rules (model glob, path glob, header equality) → a channel set and a strategy. First matching rule wins;
 * no rule → every channel. Channels are then narrowed to those that serve the model and the endpoint.
 */
export class Router {
  private readonly rules: readonly CompiledRule[];
  private readonly all: readonly Channel[];
  private readonly defaultStrategy: BalanceStrategy;
  private readonly hasHeaderRules: boolean;
  /** Per slot (see route()), per endpoint: the model → route cache. */
  private readonly cache: Map<Endpoint, ModelRoutes>[];
  private cached = 0;

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
        rewrite: rule.model,
      };
    });
    this.hasHeaderRules = this.rules.some((r) => r.header !== null);
    this.cache = this.rules.map(() => new Map<Endpoint, ModelRoutes>());
    this.cache.push(new Map<Endpoint, ModelRoutes>());
  }

  /** The route for a request; `headers` is only read when some rule matches on a header. */
  route(endpoint: Endpoint, model: string, headers: NodeJS.Dict<string | string[]>): Route {
    // With header rules the rule is decided per request and the cache is kept per rule (slot 0: none matched);
    // without, a route depends on endpoint and model alone and slot 0 holds them all.
    let index = -2;
    let slot = 0;
    if (this.hasHeaderRules) {
      index = this.matchRule(endpoint, model, headers);
      slot = index + 1;
    }
    const byEndpoint = this.cache[slot]!;
    let routes = byEndpoint.get(endpoint);
    if (routes === undefined) {
      routes = new Map();
      byEndpoint.set(endpoint, routes);
    }
    let route = routes.get(model);
    if (route === undefined) {
      if (index === -2) index = this.matchRule(endpoint, model, headers);
      const rule = index >= 0 ? this.rules[index]! : null;
      route = rule === null
        ? new Route(-1, eligible(this.all, endpoint, model), this.defaultStrategy, null)
        : new Route(rule.index, eligible(rule.channels, endpoint, rule.rewrite ?? model), rule.strategy, rule.rewrite);
      if (this.cached >= ROUTE_CACHE_MAX) this.clearCache();
      routes.set(model, route);
      this.cached++;
    }
    return route;
  }

  private clearCache(): void {
    // The model maps are emptied, not dropped: the caller may hold one.
    for (const byEndpoint of this.cache) for (const routes of byEndpoint.values()) routes.clear();
    this.cached = 0;
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

/** Channels that serve the endpoint and the model: by their globs, or as a key of their modelMap. */
function eligible(channels: readonly Channel[], endpoint: Endpoint, model: string): Channel[] {
  return channels.filter((c) => endpoint.servedBy[c.kind]
    && (c.models.matches(model) || Object.hasOwn(c.config.modelMap, model)));
}

export { GlobSet };
