import type { ServiceConfig } from '../config/schema.js';
import { GatewayService } from '../gateway/service.js';
import { ForwardService } from '../relay/forward-service.js';
import { ProxyService } from '../relay/proxy-service.js';
import type { Service } from '../contracts/service.js';
import type { GatewayContext } from '../gateway/context.js';
import type { ForwardContext } from '../relay/forward-context.js';

/** Everything the runtime lends: the shared service context plus what each service type adds to it. */
export type LentContext = ForwardContext & GatewayContext;

/** Builds the service for one config entry. The only place that maps a service type to its class. */
export function createService(config: ServiceConfig, context: LentContext): Service {
  switch (config.type) {
    case 'forward':
      return new ForwardService(config, context);
    case 'proxy':
      return new ProxyService(config, context);
    case 'gateway':
      return new GatewayService(config, context);
    default:
      throw new Error(`service type "${(config as ServiceConfig).type}" is not available in this build`);
  }
}

/** Whether a service routes by GeoIP (and so needs the geo resolver and the worker pool). */
export function needsGeo(config: ServiceConfig): boolean {
  if (config.type !== 'proxy') return false;
  if (config.rules.some((r) => r.match.kind === 'geoip')) return true;
  return config.routing !== 'direct' && config.routing !== 'upstream' && config.upstream !== null;
}
