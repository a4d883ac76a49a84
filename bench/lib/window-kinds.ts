/**
 * The relay bench's many-streams rounds sorted by window kind (bench/lib/tcp-pressure.ts): which rounds of each path
 * were full and which lossy, and CPU per GiB compared like for like, full rounds with full rounds and lossy with
 * lossy. The medians over all rounds stay the figures; these say what they mix.
 */
import type { BenchMetric, BenchRatio } from '../types.js';
import { median } from '../stats.js';
import { LOSSY_RETRANS_PER_GIB, type WindowKind } from './tcp-pressure.js';
import { samplesOf } from './metric.js';

type SamplesOf = (name: string, path: string) => readonly number[] | undefined;

/** Per round of `path`: its kind (from the `<streams>.lossy` samples, 1 = lossy) and its relay CPU per GiB. */
export function roundsByKind(
  samples: SamplesOf, streams: string, path: string,
): { kinds: WindowKind[]; full: number[]; lossy: number[] } | undefined {
  const lossy = samples(`${streams}.lossy`, path);
  const cpu = samples(`${streams}.cpuPerGiB`, path);
  if (lossy === undefined || cpu === undefined || lossy.length !== cpu.length || cpu.length === 0) return undefined;
  const kinds = lossy.map((v): WindowKind => (v > 0 ? 'lossy' : 'full'));
  return {
    kinds,
    full: cpu.filter((_, i) => kinds[i] === 'full'),
    lossy: cpu.filter((_, i) => kinds[i] === 'lossy'),
  };
}

/**
 * For each stream count, a note per path with its rounds by kind, and for each of `paths` against each of `others`
 * (those measured) the ratio of CPU-per-GiB medians over full rounds only and over lossy rounds only, with the
 * rounds each side had; "n/a" (a note, not a ratio) when one side had no round of that kind.
 */
export function windowKindReport(
  list: readonly BenchMetric[], streamsList: readonly string[], paths: readonly string[], others: readonly string[],
): { ratios: BenchRatio[]; notes: string[] } {
  const samples: SamplesOf = (name, path) => samplesOf(list, name, path);
  const ratios: BenchRatio[] = [];
  const notes: string[] = [];
  const measured = [...new Set(list.map((m) => m.path))];
  for (const streams of streamsList) {
    const kinds = new Map<string, NonNullable<ReturnType<typeof roundsByKind>>>();
    for (const path of measured) {
      const byKind = roundsByKind(samples, streams, path);
      if (byKind !== undefined) kinds.set(path, byKind);
    }
    if (kinds.size === 0) continue;
    const described = [...kinds].map(([path, k]) => {
      const order = k.kinds.map((x) => (x === 'full' ? 'F' : 'L')).join(' ');
      return `${path} full ${k.full.length}, lossy ${k.lossy.length} (${order})`;
    });
    notes.push(`${streams} rounds by window kind (lossy: the kernel pruned or dropped under TCP memory pressure ` +
      `and the transfer's sockets resent >= ${LOSSY_RETRANS_PER_GIB} segments per GiB for real losses; ` +
      `bench/lib/tcp-pressure.ts): ${described.join('; ')}`);
    for (const path of paths) {
      const own = kinds.get(path);
      if (own === undefined) continue;
      for (const other of others) {
        const theirs = kinds.get(other);
        if (theirs === undefined) continue;
        for (const kind of ['full', 'lossy'] as const) {
          const a = own[kind];
          const b = theirs[kind];
          const counts = `${a.length} and ${b.length} rounds`;
          const name = `${path} / ${other} ${streams} CPU per GiB, ${kind} rounds only (${counts})`;
          if (a.length === 0 || b.length === 0) notes.push(`${name}: n/a`);
          else ratios.push({ name, value: median(a) / median(b) });
        }
      }
    }
  }
  return { ratios, notes };
}
