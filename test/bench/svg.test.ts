import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderBarChart, escapeXml, formatValue } from '../../bench/lib/svg.js';

function rectWidths(svg: string): number[] {
  // Data bars carry a <title> tooltip; the background and legend swatches do not.
  return [...svg.matchAll(/<rect [^>]*width="([\d.]+)"[^>]*><title>/g)].map((m) => Number(m[1]));
}

test('bars are proportional to values and labelled with value and unit', () => {
  const svg = renderBarChart({
    title: 'relay: single.throughput',
    unit: 'Gbit/s',
    better: 'higher',
    groups: [
      { label: 'tidegate-native', bars: [{ label: 'throughput', value: 30 }] },
      { label: 'baseline-pipe', bars: [{ label: 'throughput', value: 10 }] },
    ],
  });
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  const [first, second] = rectWidths(svg);
  assert.ok(first !== undefined && second !== undefined, 'two bars');
  assert.ok(Math.abs(first / second - 3) < 0.01, `widths ${first} and ${second} should be 3:1`);
  assert.match(svg, />30\.0 Gbit\/s</);
  assert.match(svg, />10\.0 Gbit\/s</);
  assert.match(svg, /higher is better/);
});

test('grouped bars get a legend per series and whiskers for min–max', () => {
  const svg = renderBarChart({
    title: 'latency',
    unit: 'ms',
    groups: [
      { label: 'a', bars: [{ label: 'p50', value: 1, min: 0.5, max: 2 }, { label: 'p99', value: 4, min: 3, max: 5 }] },
      { label: 'b', bars: [{ label: 'p50', value: 2 }, { label: 'p99', value: 8 }] },
    ],
  });
  assert.equal(rectWidths(svg).length, 4);
  assert.match(svg, />p50</);
  assert.match(svg, />p99</);
  assert.equal((svg.match(/<line /g) ?? []).length, 2, 'whiskers only where min and max are given');
});

test('text is XML-escaped', () => {
  assert.equal(escapeXml(`a<b>&"c'`), 'a&lt;b&gt;&amp;&quot;c&apos;');
  const svg = renderBarChart({
    title: 'x <y> & z', unit: 'u', groups: [{ label: '<path>', bars: [{ label: 's', value: 1 }] }],
  });
  assert.ok(!svg.includes('<path>'), 'raw label must not appear');
  assert.match(svg, /&lt;path&gt;/);
  assert.match(svg, /x &lt;y&gt; &amp; z/);
});

test('an all-zero chart still renders with minimal bars', () => {
  const svg = renderBarChart({ title: 'zero', unit: 'u', groups: [{ label: 'a', bars: [{ label: 's', value: 0 }] }] });
  assert.deepEqual(rectWidths(svg), [1]);
});

test('formatValue keeps three significant digits', () => {
  assert.equal(formatValue(12345.6), '12,346');
  assert.equal(formatValue(123.4), '123');
  assert.equal(formatValue(12.34), '12.3');
  assert.equal(formatValue(1.234), '1.23');
  assert.equal(formatValue(0.01234), '0.0123');
  assert.equal(formatValue(0), '0');
});
