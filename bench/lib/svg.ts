/**
 * A small SVG writer for bench charts: horizontal bar charts, one bar per path (or one group of bars per path for
 * latency percentiles), with the value printed beside each bar and min–max whiskers from the rounds.
 */

export interface Bar {
  readonly label: string;
  readonly value: number;
  /** Spread of the rounds, drawn as a whisker when given. */
  readonly min?: number;
  readonly max?: number;
}

export interface BarGroup {
  /** The path, e.g. `tidegate-native`. */
  readonly label: string;
  readonly bars: readonly Bar[];
}

export interface BarChart {
  readonly title: string;
  readonly unit: string;
  /** `higher` or `lower` is better: printed under the title. */
  readonly better?: 'higher' | 'lower';
  readonly groups: readonly BarGroup[];
}

const PALETTE = ['#2f6fb3', '#e07b39', '#4f9d5d', '#b34f8c', '#8c7a2f', '#5a5a5a'];
const WIDTH = 720;
const LABEL_WIDTH = 170;
const VALUE_WIDTH = 110;
const BAR_HEIGHT = 18;
const BAR_GAP = 4;
const GROUP_GAP = 12;
const TOP = 56;

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Three significant digits, without exponent notation for the sizes benches produce. */
export function formatValue(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

export function renderBarChart(chart: BarChart): string {
  const maxValue = Math.max(0, ...chart.groups.flatMap((g) => g.bars.map((b) => Math.max(b.value, b.max ?? 0))));
  const scale = maxValue > 0 ? (WIDTH - LABEL_WIDTH - VALUE_WIDTH) / maxValue : 0;
  const seriesLabels = [...new Set(chart.groups.flatMap((g) => g.bars.map((b) => b.label)))];
  const showLegend = seriesLabels.length > 1;
  const parts: string[] = [];
  let y = TOP + (showLegend ? 22 : 0);
  for (const group of chart.groups) {
    const groupHeight = group.bars.length * (BAR_HEIGHT + BAR_GAP) - BAR_GAP;
    parts.push(text(8, y + groupHeight / 2 + 5, group.label, 'start', 13, '#222'));
    for (const bar of group.bars) {
      const color = PALETTE[seriesLabels.indexOf(bar.label) % PALETTE.length] as string;
      const width = Math.max(1, bar.value * scale);
      const tip = escapeXml(`${group.label} ${bar.label}: ${formatValue(bar.value)} ${chart.unit}`);
      parts.push(
        `<rect x="${LABEL_WIDTH}" y="${y}" width="${width.toFixed(1)}" height="${BAR_HEIGHT}" fill="${color}">` +
          `<title>${tip}</title></rect>`,
      );
      if (bar.min !== undefined && bar.max !== undefined && bar.max > bar.min) {
        const x1 = (LABEL_WIDTH + bar.min * scale).toFixed(1);
        const x2 = (LABEL_WIDTH + bar.max * scale).toFixed(1);
        const mid = y + BAR_HEIGHT / 2;
        parts.push(`<line x1="${x1}" y1="${mid}" x2="${x2}" y2="${mid}" stroke="#111" stroke-width="1"/>`);
      }
      const label = `${formatValue(bar.value)} ${chart.unit}`;
      parts.push(text(LABEL_WIDTH + width + 6, y + BAR_HEIGHT - 4, label, 'start', 12, '#222'));
      y += BAR_HEIGHT + BAR_GAP;
    }
    y += GROUP_GAP - BAR_GAP;
  }
  const height = y + 16;
  const header = [
    text(8, 22, chart.title, 'start', 16, '#111', 'bold'),
    text(
      8, 40,
      `${chart.unit}${chart.better ? ` — ${chart.better} is better` : ''}; ` +
        'bars are medians, whiskers min–max of the rounds',
      'start', 11, '#555',
    ),
  ];
  if (showLegend) {
    let x = LABEL_WIDTH;
    seriesLabels.forEach((label, i) => {
      header.push(`<rect x="${x}" y="${TOP - 2}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/>`);
      header.push(text(x + 16, TOP + 8, label, 'start', 12, '#222'));
      x += 24 + label.length * 7;
    });
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...header,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

function text(
  x: number, y: number, content: string, anchor: string, size: number, fill: string, weight?: string,
): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" text-anchor="${anchor}" font-size="${size}" fill="${fill}"` +
    `${weight ? ` font-weight="${weight}"` : ''}>${escapeXml(content)}</text>`;
}
