import type { ServiceConfig } from '../config/schema.js';
import { ForwardService } from '../relay/forward-service.js';
import type { Service, ServiceContext } from '../service.js';

/** Builds the service for one config entry. The only place that maps a service type to its class. */
export function createService(config: ServiceConfig, context: ServiceContext): Service {
  switch (config.type) {
    case 'forward':
      return new ForwardService(config, context);
    default:
      throw new Error(`service type "${config.type}" is not available in this build`);
  }
}
