import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Used when `pool.jsonOffloadBytes: auto` and no bench result exists. 128 KiB: on the 2-core development machine
 * JSON.parse + validation of a chat body costs roughly 1 µs per 250 bytes inline (~0.25 ms at 64 KiB, ~2 ms at 1 MiB),
 * while a pool round trip costs roughly 0.1–0.3 ms of latency; below ~100 KiB the hop costs more than it saves,
 * above it one body stalls every other connection for longer than a hop. `npm run bench -- pool` measures the
 * real crossover on the machine at hand and writes it to bench/results/pool-threshold.json.
 */
export const DEFAULT_JSON_OFFLOAD_BYTES = 131_072;

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
