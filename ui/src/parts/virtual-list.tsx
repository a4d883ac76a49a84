// A table body that renders only the rows in view (plus a few either side): 10,000 users cost as much as 30.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';

interface Props<T> {
  readonly items: readonly T[];
  readonly rowHeight: number;
  readonly height: number;
  readonly header: ComponentChildren;
  readonly row: (item: T, index: number) => ComponentChildren;
  /** Told which rows are in view (to load what only those need). */
  readonly onRange?: (from: number, to: number) => void;
  readonly testId?: string;
}

const OVERSCAN = 6;

export function VirtualList<T>({ items, rowHeight, height, header, row, onRange, testId }: Props<T>) {
  const [top, setTop] = useState(0);
  const from = Math.max(0, Math.floor(top / rowHeight) - OVERSCAN);
  const to = Math.min(items.length, Math.ceil((top + height) / rowHeight) + OVERSCAN);
  onRange?.(from, to);
  const rows: ComponentChildren[] = [];
  for (let i = from; i < to; i++) rows.push(row(items[i]!, i));
  return (
    <div class="vtable">
      <div class="vhead">{header}</div>
      <div class="vbody" style={{ height: `${height}px` }} data-testid={testId}
        onScroll={(e) => setTop((e.currentTarget as HTMLDivElement).scrollTop)}>
        <div style={{ height: `${items.length * rowHeight}px`, position: 'relative' }}>
          <div style={{ transform: `translateY(${from * rowHeight}px)` }}>{rows}</div>
        </div>
      </div>
    </div>
  );
}
