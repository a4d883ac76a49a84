import type { BenchMetric } from '../types.js';
import { median } from '../stats.js';

/** Collects per-round samples by (metric name, path) and turns them into BenchMetrics with medians. */
export class MetricCollector {
  private readonly entries = new Map<
    string, { name: string; path: string; unit: string; better: 'higher' | 'lower'; samples: number[] }
  >();

  add(name: string, path: string, unit: string, better: 'higher' | 'lower', value: number): void {
    if (!Number.isFinite(value)) return;
    const key = `${name}\u0000${path}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { name, path, unit, better, samples: [] };
      this.entries.set(key, entry);
    }
    entry.samples.push(value);
  }

  metrics(): BenchMetric[] {
    const out: BenchMetric[] = [];
    for (const entry of this.entries.values()) {
      out.push(toMetric(entry.name, entry.path, entry.unit, entry.better, entry.samples));
    }
    return out;
  }
}

export function toMetric(
  name: string, path: string, unit: string, better: 'higher' | 'lower', samples: readonly number[],
): BenchMetric {
  return { name, path, unit, better, samples: [...samples], median: median(samples) };
}

/** A metric's per-round samples, or undefined when that path did not report it. */
export function samplesOf(metrics: readonly BenchMetric[], name: string, path: string): readonly number[] | undefined {
  return metrics.find((m) => m.name === name && m.path === path)?.samples;
}

/** The median of a metric, or undefined when that path did not report it. */
export function medianOf(metrics: readonly BenchMetric[], name: string, path: string): number | undefined {
  return metrics.find((m) => m.name === name && m.path === path)?.median;
}
