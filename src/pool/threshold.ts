/**
 * What `pool.jsonOffloadBytes: auto` means: a documented constant, not a file read at run time. 64 KiB: on the
 * 2-core development machine `npm run bench -- pool` measured inline parse+validate at ~1.7–1.8 µs/KiB of main
 * thread and a pool hop at ~25–35 µs of main thread plus ~0.3 µs/KiB (copy into a recycled buffer, transfer), so
 * the hop starts saving main-thread time at ~35–42 KiB, while an inline body only stalls the loop for 1 ms at
 * ~550 KiB. 64 KiB is that crossover rounded up to a power of two, leaning inline because the hop adds latency to
 * the request that takes it. The bench still writes the crossover it measures on the machine at hand
 * (bench/results/pool-threshold.json) for users who want to set `pool.jsonOffloadBytes` to it.
 */
export const DEFAULT_JSON_OFFLOAD_BYTES = 65_536;

/** The threshold and where it came from (for the start-up log). */
export interface OffloadThreshold {
  readonly bytes: number;
  readonly source: 'config' | 'auto (documented default)';
}

export function resolveJsonOffloadBytes(configured: number | 'auto'): OffloadThreshold {
  if (configured !== 'auto') return { bytes: configured, source: 'config' };
  return { bytes: DEFAULT_JSON_OFFLOAD_BYTES, source: 'auto (documented default)' };
}
