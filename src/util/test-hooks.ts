/**
 * Test switches, read once from the environment at module load. Never set in production.
 *
 * TIDEGATE_SLOW_MS: delays every new forward connection and every gateway request by this many ms, so the perf gate
 * can prove it catches a slow build. 0 (off) when unset or not a positive number.
 */
export const SLOW_MS = positiveMs(process.env.TIDEGATE_SLOW_MS);

/**
 * TIDEGATE_TEST_FAULT_PATH: a gateway request for exactly this path (one no endpoint serves) makes the request
 * handler throw, so graduated recovery is tested through the real code path. Checked only where a request has
 * already missed every route; null (off) when unset.
 */
export const FAULT_PATH: string | null = process.env.TIDEGATE_TEST_FAULT_PATH || null;

function positiveMs(value: string | undefined): number {
  const n = Number(value ?? 0);
  return n > 0 ? n : 0;
}
