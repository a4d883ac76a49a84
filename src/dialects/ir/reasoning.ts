import type { IrReasoning } from './types.js';

/*
 * reasoning_effort (Chat, Responses) ⇄ thinking.budget_tokens (Anthropic), one documented table (docs/dialects.md):
 * none/minimal → no thinking; low → 1024; medium → 4096; high → 16384 tokens. Back: a budget up to 2048 is low, up to
 * 8192 medium, above that high.
 */
const EFFORT_BUDGET: Readonly<Record<string, number>> = { low: 1024, medium: 4096, high: 16384 };

/** The thinking budget for a reasoning request, or null for none. */
export function budgetOf(r: IrReasoning): number | null {
  if (r.budget !== null) return r.budget;
  if (r.effort === null) return null;
  return EFFORT_BUDGET[r.effort] ?? null;
}

/** The effort for a reasoning request, or null when the source asked for none. */
export function effortOf(r: IrReasoning): string | null {
  if (r.effort !== null) return r.effort;
  if (r.budget === null) return null;
  return r.budget <= 2048 ? 'low' : r.budget <= 8192 ? 'medium' : 'high';
}
