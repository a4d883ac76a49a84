import { DEFAULTS } from '../defaults.js';
import type { GatewayLimitsConfig } from '../types.js';
import type { Reader } from '../validator.js';

/** The top-level `gateway:`: limits shared by every gateway service. */
export function readGatewayLimits(r: Reader, value: unknown): GatewayLimitsConfig {
  const o = r.object('gateway', value, ['bodyBudget', 'bodyTimeout']);
  const bodyBudgetBytes = r.size('gateway.bodyBudget', o.bodyBudget, DEFAULTS.gateway.bodyBudgetBytes);
  if (bodyBudgetBytes < 1024) r.fail('gateway.bodyBudget', `expected at least 1KiB, got ${bodyBudgetBytes} bytes`);
  const bodyTimeoutMs = r.duration('gateway.bodyTimeout', o.bodyTimeout, DEFAULTS.gateway.bodyTimeoutMs);
  if (bodyTimeoutMs <= 0) r.fail('gateway.bodyTimeout', 'expected a duration above 0, like 30s');
  return { bodyBudgetBytes, bodyTimeoutMs };
}
