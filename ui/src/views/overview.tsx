import { Chart } from '../parts/chart.js';
import { bytes, count, duration, rate } from '../format.js';
import { t } from '../i18n.js';
import { useLive, type Live, type Series } from '../live.js';
import type { ServiceStatus } from '../types.js';

const EMPTY: Series = { t: [], live: [], inRate: [], outRate: [], reqRate: [] };
const IN = '#3b82f6';
const OUT = '#10b981';
const REQ = '#f59e0b';

export function Overview({ live }: { live: Live }) {
  useLive(live);
  const s = live.status;
  if (s === null) return <p class="muted">{t('Loading…')}</p>;
  const acc = s.accounting as { ledger?: string; pendingSubjects?: number; redis?: { state?: string } };
  const sync = acc.ledger === 'sqlite' ? `SQLite · ${acc.pendingSubjects ?? 0} pending` : t('off');
  const redis = acc.redis?.state === 'off' || acc.redis == null ? t('off') : summary(acc.redis);
  return (
    <div>
      <section class="facts" data-testid="runtime-facts">
        <Fact label={t('Version')} value={s.version} />
        <Fact label={t('Uptime')} value={duration(s.uptimeSeconds)} />
        <Fact label={t('Relay engine')}
          value={s.relayEngine + (s.relayEngineFallback ? ` (${s.relayEngineFallback})` : '')} />
        <Fact label={t('Worker pool')} value={s.pool === null ? t('off') : summary(s.pool)} />
        <Fact label={t('Sync')} value={sync} />
        <Fact label={t('Redis')} value={redis} />
        <Fact label={t('Reloads')}
          value={`${s.reloads.total}${s.reloads.failed ? ` (${s.reloads.failed} ${t('failed')})` : ''}`} />
        <Fact label={t('Last error')} value={s.reloads.lastError ?? t('none')} testId="last-reload-error" />
      </section>
      {s.services.length === 0 && <p class="muted">{t('no services')}</p>}
      <div class="cards">
        {s.services.map((svc) => <ServiceCard svc={svc} series={live.series.get(svc.name) ?? EMPTY} />)}
      </div>
    </div>
  );
}

function Fact({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return <div class="fact"><span class="muted">{label}</span><b data-testid={testId} title={value}>{value}</b></div>;
}

/** A small object as `key value` pairs (pool, sync and Redis stats differ by version: show what is there). */
function summary(o: unknown): string {
  if (o === null || typeof o !== 'object') return String(o);
  return Object.entries(o as Record<string, unknown>)
    .filter(([, v]) => v === null || typeof v !== 'object')
    .slice(0, 4)
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(' · ');
}

function ServiceCard({ svc, series }: { svc: ServiceStatus; series: Series }) {
  const gateway = svc.type === 'gateway';
  const n = series.t.length;
  const inNow = n ? series.inRate[n - 1]! : 0;
  const outNow = n ? series.outRate[n - 1]! : 0;
  const reqNow = n ? series.reqRate[n - 1]! : 0;
  return (
    <article class="card" data-testid={`service-${svc.name}`}>
      <header>
        <h3>{svc.name}</h3>
        <span class={`badge ${svc.type}`}>{svc.type}</span>
        <span class={`state ${svc.state}`}>{svc.state}</span>
      </header>
      <dl>
        <dt>{t('Listen')}</dt><dd class="mono">{svc.listen}</dd>
        <dt>{t('Connections')}</dt>
        <dd>
          <b data-testid="live-connections">{svc.connections.live}</b> {t('live')} · {count(svc.connections.total)}
        </dd>
        <dt>{t('Traffic')}</dt>
        <dd>
          <span data-testid="bytes-total" data-bytes={svc.bytes.in + svc.bytes.out}>
            {t('in')} {bytes(svc.bytes.in)} · {t('out')} {bytes(svc.bytes.out)}
          </span>
        </dd>
        <dt>{gateway ? t('Requests') : t('Traffic')}/s</dt>
        <dd>{gateway ? `${reqNow.toFixed(1)}/s` : `↓${rate(inNow)} ↑${rate(outNow)}`}</dd>
      </dl>
      <Chart x={series.t} height={48} testId="sparkline"
        ys={gateway ? [series.reqRate] : [series.inRate, series.outRate]}
        lines={gateway ? [{ label: 'req/s', color: REQ }]
        : [{ label: t('in'), color: IN }, { label: t('out'), color: OUT }]}
        format={gateway ? (v) => v.toFixed(1) : rate} />
      <small class="muted">{t('last 15 minutes')}</small>
    </article>
  );
}
