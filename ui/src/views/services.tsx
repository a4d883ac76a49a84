import { useEffect, useState } from 'preact/hooks';
import type { Api } from '../api.js';
import { bytes } from '../format.js';
import { t } from '../i18n.js';
import { useLive, type Live } from '../live.js';
import { ErrorBox, Modal } from '../parts/modal.js';
import type { Page, ServiceItem, ServiceStatus } from '../types.js';

interface Props {
  readonly api: Api;
  readonly live: Live;
  readonly canWrite: boolean;
  readonly changes: number;
}

interface TargetState {
  readonly address: string;
  readonly live: number;
  readonly up: boolean;
  readonly failures?: number;
}

type Dialog = { kind: 'create' } | { kind: 'edit'; item: ServiceItem } | null;

export function Services({ api, live, canWrite, changes }: Props) {
  useLive(live);
  const [items, setItems] = useState<readonly ServiceItem[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [dialog, setDialog] = useState<Dialog>(null);
  const load = async (): Promise<void> => {
    try {
      setItems((await api.get<Page<ServiceItem>>('/services?limit=1000')).items);
    } catch (err) {
      setError(err);
    }
  };
  useEffect(() => {
    void load();
  }, [changes]);
  const statusOf = (name: string, fallback: ServiceStatus | null): ServiceStatus | null =>
    live.status?.services.find((s) => s.name === name) ?? fallback;
  const remove = async (name: string): Promise<void> => {
    if (!confirm(t('Remove service {name}?', { name }))) return;
    try {
      await api.call('DELETE', `/services/${encodeURIComponent(name)}`);
      setError(null);
      await load();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div>
      <div class="toolbar">
        {canWrite && <button class="primary" data-testid="new-service" onClick={() => setDialog({ kind: 'create' })}>
          {t('New service')}</button>}
      </div>
      <ErrorBox error={error} />
      {items === null ? <p class="muted">{t('Loading…')}</p>
      : items.length === 0 ? <p class="muted">{t('no services')}</p> : (
        <table class="grid" data-testid="services-table">
          <thead><tr>
            <th>{t('Name')}</th><th>{t('Type')}</th><th>{t('State')}</th><th>{t('Listen')}</th>
            <th>{t('Connections')}</th><th>{t('Traffic')}</th><th>{t('Targets')}</th><th />
          </tr></thead>
          <tbody>{items.map((item) => {
            const s = statusOf(item.name, item.status);
            const targets = (s?.detail?.targets ?? []) as readonly TargetState[];
            const editable = canWrite && item.origin === 'api' && item.type !== 'gateway';
            return (
              <tr data-testid="service-row" data-service={item.name}>
                <td class="mono">{item.name} <span class={`origin ${item.origin}`}>{item.origin}</span></td>
                <td><span class={`badge ${item.type}`}>{item.type}</span></td>
                <td><span class={`state ${s?.state ?? ''}`}>{s?.state ?? '—'}</span></td>
                <td class="mono">{s?.listen ?? String(item.config.listen ?? '')}</td>
                <td>{s ? `${s.connections.live} / ${s.connections.total}` : '—'}</td>
                <td>{s ? `${bytes(s.bytes.in)} · ${bytes(s.bytes.out)}` : '—'}</td>
                <td>{targets.map((tg) => (
                  <div class="target" data-testid="target">
                    <span class={`dot ${tg.up ? 'up' : 'down'}`} title={tg.up ? t('up') : t('down')} />
                    <span class="mono">{tg.address}</span> <small class="muted">{tg.live} {t('live')}</small>
                  </div>
                ))}</td>
                <td class="actions">
                  {editable && <button onClick={() => setDialog({ kind: 'edit', item })}>{t('Edit')}</button>}
                  {canWrite && item.origin === 'api' && (
                    <button class="danger" onClick={() => void remove(item.name)}>{t('Remove')}</button>
                  )}
                </td>
              </tr>
            );
          })}</tbody>
        </table>
      )}
      {dialog?.kind === 'create' && <ServiceForm onClose={() => setDialog(null)} submit={async (doc) => {
        await api.call('POST', '/services', doc);
        await load();
      }} />}
      {dialog?.kind === 'edit' && <ServiceEdit item={dialog.item} onClose={() => setDialog(null)}
        submit={async (patch) => {
          const name = encodeURIComponent(dialog.item.name);
          const { etag } = await api.call('GET', `/services/${name}`);
          await api.call('PATCH', `/services/${name}`, patch, etag === null ? {} : { 'if-match': etag });
          await load();
        }} />}
    </div>
  );
}

function ServiceForm({ onClose, submit }: {
  onClose: () => void; submit: (doc: Record<string, unknown>) => Promise<void>;
}) {
  const [type, setType] = useState<'forward' | 'proxy'>('forward');
  const [name, setName] = useState('');
  const [listen, setListen] = useState('127.0.0.1:auto');
  const [targets, setTargets] = useState('');
  const [user, setUser] = useState('');
  const [strategy, setStrategy] = useState('failover');
  const [error, setError] = useState<unknown>(null);
  const onSubmit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const doc: Record<string, unknown> = { name, type, listen };
    if (user.trim() !== '') doc.user = user.trim();
    if (type === 'forward') {
      doc.targets = targets.split(',').map((s) => s.trim()).filter((s) => s !== '');
      doc.strategy = strategy;
    }
    try {
      await submit(doc);
      onClose();
    } catch (err) {
      setError(err);
    }
  };
  const input = (set: (v: string) => void) => (e: Event) => set((e.target as HTMLInputElement).value);
  return (
    <Modal title={t('New service')} onClose={onClose}>
      <form class="form" onSubmit={(e) => void onSubmit(e)} data-testid="service-form">
        <div class="row2">
          <label>{t('Type')}<select name="type" value={type}
            onChange={(e) => setType((e.target as HTMLSelectElement).value as 'forward')}>
            <option value="forward">forward</option><option value="proxy">proxy</option></select></label>
          <label>{t('Name')}<input name="name" required value={name} onInput={input(setName)} /></label>
        </div>
        <label>{t('Listen')}<input name="listen" required value={listen} onInput={input(setListen)} /></label>
        {type === 'forward' && <>
          <label>{t('Targets (comma-separated host:port)')}
            <input name="targets" required value={targets} onInput={input(setTargets)} /></label>
          <label>{t('Strategy')}<select name="strategy" value={strategy}
            onChange={(e) => setStrategy((e.target as HTMLSelectElement).value)}>
            {['failover', 'round-robin', 'random', 'least-connections'].map((s) => <option value={s}>{s}</option>)}
          </select></label>
        </>}
        <label>{t('User')}<input name="user" value={user} onInput={input(setUser)} /></label>
        <ErrorBox error={error} />
        <footer>
          <button type="button" onClick={onClose}>{t('Cancel')}</button>
          <button type="submit" class="primary" data-testid="service-submit">{t('Create')}</button>
        </footer>
      </form>
    </Modal>
  );
}

/** Edits any key of an API service as JSON (a merge patch: name and type cannot change). */
function ServiceEdit({ item, onClose, submit }: {
  item: ServiceItem; onClose: () => void; submit: (patch: Record<string, unknown>) => Promise<void>;
}) {
  const { name: _n, type: _t, ...rest } = item.config;
  const [text, setText] = useState(JSON.stringify(rest, null, 2));
  const [error, setError] = useState<unknown>(null);
  const onSubmit = async (e: Event): Promise<void> => {
    e.preventDefault();
    try {
      await submit(JSON.parse(text) as Record<string, unknown>);
      onClose();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Modal title={`${t('Edit')} ${item.name}`} onClose={onClose}>
      <form class="form" onSubmit={(e) => void onSubmit(e)}>
        <label>{t('Config (JSON)')}<textarea rows={14} class="mono" value={text}
          onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} /></label>
        <ErrorBox error={error} />
        <footer>
          <button type="button" onClick={onClose}>{t('Cancel')}</button>
          <button type="submit" class="primary">{t('Save')}</button>
        </footer>
      </form>
    </Modal>
  );
}
