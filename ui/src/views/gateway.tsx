import { useEffect, useState } from 'preact/hooks';
import { ApiError, type Api } from '../api.js';
import { Chart } from '../parts/chart.js';
import { count, time } from '../format.js';
import { t } from '../i18n.js';
import { useLive, type Live } from '../live.js';
import { ErrorBox } from '../parts/modal.js';
import type { Page, RequestRow } from '../types.js';

interface Channel {
  readonly name: string;
  readonly kind: string;
  readonly inFlight: number;
  readonly latencyEwmaMs: number;
  readonly requests: number;
  readonly failures: number;
  readonly breaker: { readonly state: string };
  readonly credentials: Record<string, unknown>;
}

interface DayRow {
  readonly key: string | null;
  readonly totalTokens: number;
  /** Present once the request log keeps cost (the spend work): micros of the configured currency. */
  readonly costMicros?: number;
}

const FILTERS = ['user', 'channel', 'model', 'status', 'since', 'until'] as const;
type Filters = Record<(typeof FILTERS)[number], string>;
const NO_FILTERS: Filters = { user: '', channel: '', model: '', status: '', since: '', until: '' };

export function Gateway({ api, live }: { api: Api; live: Live }) {
  useLive(live);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [rows, setRows] = useState<RequestRow[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [recent, setRecent] = useState<readonly RequestRow[]>([]);
  const [days, setDays] = useState<readonly DayRow[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [noLog, setNoLog] = useState(false);
  const [open, setOpen] = useState<RequestRow | null>(null);

  const query = (f: Filters): string => {
    const q = new URLSearchParams({ limit: '100' });
    for (const k of FILTERS) {
      const v = f[k].trim();
      if (v === '') continue;
      q.set(k, k === 'since' || k === 'until' ? String(new Date(v).getTime()) : v);
    }
    return q.toString();
  };
  const load = async (f: Filters, after: string | null): Promise<void> => {
    try {
      const more = after ? `&cursor=${encodeURIComponent(after)}` : '';
      const page = await api.get<Page<RequestRow>>(`/requests?${query(f)}${more}`);
      setRows((old) => (after === null ? [...page.items] : [...(old ?? []), ...page.items]));
      setCursor(page.nextCursor);
      setError(null);
    } catch (err) {
      if (err instanceof ApiError && err.status === 400 && /request log/.test(err.message)) setNoLog(true);
      else setError(err);
    }
  };
  useEffect(() => {
    void load(NO_FILTERS, null);
    // Latency percentiles per channel from the latest 1,000 requests; tokens per day for the last 30 days.
    api.get<Page<RequestRow>>('/requests?limit=1000').then((p) => setRecent(p.items), () => undefined);
    const since = Date.now() - 30 * 86_400_000;
    api.get<{ rows: DayRow[] }>(`/usage/summary?groupBy=day&since=${since}`)
      .then((s) => setDays([...s.rows].sort((a, b) => String(a.key).localeCompare(String(b.key)))), () => undefined);
  }, []);

  const gateways = (live.status?.services ?? []).filter((s) => s.type === 'gateway');
  const channels = gateways.flatMap((g) => ((g.detail?.channels ?? []) as Channel[])
    .map((c) => ({ service: g.name, c })));
  return (
    <div>
      <h2>{t('Channels')}</h2>
      <table class="grid" data-testid="channels-table">
        <thead><tr>
          <th>{t('Name')}</th><th>{t('Type')}</th><th>{t('Breaker')}</th><th>{t('In flight')}</th>
          <th>{t('Requests')}</th><th>{t('Latency p50/p99')}</th><th>{t('Credentials')}</th>
        </tr></thead>
        <tbody>{channels.map(({ service, c }) => {
          const lat = recent.filter((r) => r.channel === c.name && r.service === service).map((r) => r.latencyMs);
          return (
            <tr data-testid="channel-row">
              <td class="mono">{service}/{c.name}</td><td>{c.kind}</td>
              <td><span class={`state ${c.breaker.state}`}>{c.breaker.state}</span></td>
              <td>{c.inFlight}</td><td>{count(c.requests)} ({c.failures} {t('failed')})</td>
              <td>{lat.length ? `${pct(lat, 0.5)} / ${pct(lat, 0.99)} ms` : `~${c.latencyEwmaMs} ms`}</td>
              <td class="muted">{credText(c.credentials)}</td>
            </tr>
          );
        })}</tbody>
      </table>

      <h2>{t('Tokens and cost per day')}</h2>
      {days.length === 0 ? <p class="muted">{t('no requests')}</p> : (
        <Chart x={days.map((d) => Date.parse(`${d.key}T00:00:00Z`) / 1000)} height={160} axes testId="tokens-chart"
          ys={days.some((d) => typeof d.costMicros === 'number')
            ? [days.map((d) => d.totalTokens), days.map((d) => (d.costMicros ?? 0) / 1e6)]
            : [days.map((d) => d.totalTokens)]}
          lines={days.some((d) => typeof d.costMicros === 'number')
            ? [{ label: t('Tokens'), color: '#3b82f6' }, { label: 'cost', color: '#f59e0b' }]
            : [{ label: t('Tokens'), color: '#3b82f6' }]}
          format={count} />
      )}

      <h2>{t('Request log')}</h2>
      {noLog ? <p class="muted">{t('No request log (store.sqlite is off).')}</p> : <>
        <form class="filters" data-testid="request-filters" onSubmit={(e) => {
          e.preventDefault();
          void load(filters, null);
        }}>
          {FILTERS.map((k) => (
            <label>{t(k[0]!.toUpperCase() + k.slice(1))}
              {k === 'since' || k === 'until'
                ? <input name={k} type="datetime-local" value={filters[k]}
                    onInput={(e) => setFilters({ ...filters, [k]: (e.target as HTMLInputElement).value })} />
                : <input name={k} type="text" value={filters[k]}
                    onInput={(e) => setFilters({ ...filters, [k]: (e.target as HTMLInputElement).value })} />}</label>
          ))}
          <button type="submit" class="primary">{t('Filter')}</button>
        </form>
        <ErrorBox error={error} />
        <table class="grid clickable" data-testid="requests-table">
          <thead><tr>
            <th>{t('Time')}</th><th>{t('User')}</th><th>{t('Channel')}</th><th>{t('Model')}</th>
            <th>{t('Status')}</th><th>{t('Tokens')}</th><th>{t('Latency')}</th>
          </tr></thead>
          <tbody>{(rows ?? []).map((r) => (
            <tr data-testid="request-row" onClick={() => setOpen(r)}>
              <td>{time(r.ts)}</td><td class="mono">{r.user ?? '—'}</td><td>{r.channel ?? '—'}</td>
              <td>{r.model ?? '—'}</td><td class={r.status >= 400 ? 'bad' : ''}>{r.status}</td>
              <td>{r.totalTokens ?? '—'}</td><td>{r.latencyMs} ms</td>
            </tr>
          ))}</tbody>
        </table>
        {rows !== null && rows.length === 0 && <p class="muted">{t('no requests')}</p>}
        {cursor !== null && <button onClick={() => void load(filters, cursor)}>{t('More')}</button>}
      </>}
      {open !== null && (
        <aside class="drawer" data-testid="request-drawer">
          <header>
            <h3>{t('Request')} #{open.id}</h3><button class="ghost" onClick={() => setOpen(null)}>✕</button>
          </header>
          <dl>{Object.entries(open).map(([k, v]) => (
            <><dt>{k}</dt><dd class="mono">{v === null ? '—' : String(v)}</dd></>
          ))}</dl>
        </aside>
      )}
    </div>
  );
}

function pct(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!);
}

function credText(c: Record<string, unknown>): string {
  return Object.entries(c).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.length : String(v)}`).join(' · ');
}
