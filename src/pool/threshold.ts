import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Used when `pool.jsonOffloadBytes: auto` and this machine has no bench result (e.g. an npm install, which ships
 * no bench/). 64 KiB: on the 2-core development machine `npm run bench -- pool` measured inline parse+validate at
 * ~1.7 µs/KiB of main thread and a pool hop at ~25–35 µs of main thread plus ~0.3 µs/KiB (copy into a recycled buffer, transfer), so the
 * hop starts saving main-thread time at ~35 KiB, while an inline body only stalls the loop for 1 ms at ~580 KiB.
 * 64 KiB is that crossover rounded up to a power of two, leaning inline because the hop adds latency to the
 * request that takes it. The bench writes the crossover measured on the machine at hand to
 * bench/results/pool-threshold.json.
 */
export const DEFAULT_JSON_OFFLOAD_BYTES = 65_536;

/** Where the pool bench stores its measured threshold (relative to the package root). */
export const THRESHOLD_FILE = fileURLToPath(new URL('../../../bench/results/pool-threshold.json', import.meta.url));

export interface ThresholdRecord {
  readonly jsonOffloadBytes: number;
  readonly measuredAt: string;
  readonly why: string;
}

/**
 * Resolves `jsonOffloadBytes`: a number is the user's override; 'auto' reads the bench's file (once, at start, so
 * the sync read never touches a request path), else the default. Returns where the value came from for logging.
 */
export function resolveJsonOffloadBytes(configured: number | 'auto', file = THRESHOLD_FILE): { bytes: number; source: string } {
  if (configured !== 'auto') return { bytes: configured, source: 'config' };
  try {
    const rec = JSON.parse(readFileSync(file, 'utf8')) as Partial<ThresholdRecord>;
    if (typeof rec.jsonOffloadBytes === 'number' && Number.isFinite(rec.jsonOffloadBytes) && rec.jsonOffloadBytes >= 0) {
      return { bytes: rec.jsonOffloadBytes, source: `bench ${file} (${rec.measuredAt ?? 'undated'})` };
    }
  } catch {
    // no bench result on this machine: fall through to the default
  }
  return { bytes: DEFAULT_JSON_OFFLOAD_BYTES, source: 'default' };
}
