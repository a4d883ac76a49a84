import type { GatewayUsage } from '../contracts/records.js';

/** Tokens of one gateway request: the upstream's total, else prompt + completion, else 0. */
export function gatewayTokens(usage: Pick<GatewayUsage, 'promptTokens' | 'completionTokens' | 'totalTokens'>): number {
  if (usage.totalTokens !== null) return usage.totalTokens;
  return (usage.promptTokens ?? 0) + (usage.completionTokens ?? 0);
}
