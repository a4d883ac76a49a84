// uPlot charts: a sparkline of the last 15 minutes and a small bar-less line chart for daily totals. One uPlot per
// mount, fed new data with setData (no re-create per tick).
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartLine {
  readonly label: string;
  readonly color: string;
}

interface Props {
  readonly x: readonly number[];
  readonly ys: readonly (readonly number[])[];
  readonly lines: readonly ChartLine[];
  readonly height: number;
  /** Axes and legend (a full chart) or nothing but the lines (a sparkline). */
  readonly axes?: boolean;
  readonly format?: (v: number) => string;
  readonly testId?: string;
}

export function Chart({ x, ys, lines, height, axes = false, format, testId }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    const el = box.current!;
    const fmt = format ?? ((v: number) => String(v));
    // Canvas strokes take colours, not CSS variables: read the theme's once per mount (a theme switch remounts).
    const css = getComputedStyle(document.documentElement);
    const muted = css.getPropertyValue('--muted').trim() || '#888';
    const grid = css.getPropertyValue('--grid').trim() || '#8884';
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 120),
      height,
      legend: { show: axes },
      cursor: { show: axes, points: { show: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: axes
        ? [
            { stroke: muted, grid: { stroke: grid } },
            { stroke: muted, grid: { stroke: grid }, values: (_u, vals) => vals.map(fmt), size: 70 },
          ]
        : [{ show: false }, { show: false }],
      series: [{}, ...lines.map((l) => ({
        label: l.label, stroke: l.color, width: 1.5, fill: axes ? undefined : `${l.color}22`, points: { show: axes },
        value: (_u: uPlot, v: number | null) => (v == null ? '' : fmt(v)),
      }))],
    };
    plot.current = new uPlot(opts, [x as number[], ...ys.map((y) => y as number[])], el);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(el.clientWidth, 120), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [lines.length, height, axes]);
  useEffect(() => {
    plot.current?.setData([x as number[], ...ys.map((y) => y as number[])]);
  });
  return <div class="chart" ref={box} data-testid={testId} />;
}
