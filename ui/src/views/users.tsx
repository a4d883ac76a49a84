import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Api } from '../api.js';
import { bytes } from '../format.js';
import { t } from '../i18n.js';
import { ErrorBox, Modal } from '../parts/modal.js';
import { VirtualList } from '../parts/virtual-list.js';
import type { Page, UsageBody, UserItem } from '../types.js';

const ROW = 40;

interface Props {
  readonly api: Api;
  readonly canWrite: boolean;
  /** Bumped by user and key events: the list is read again. */
  readonly changes: number;
}

type Dialog =
  | { kind: 'create' }
  | { kind: 'edit'; user: UserItem }
  | { kind: 'key'; user: string; key: string; id: string }
  | null;

export function Users({ api, canWrite, changes }: Props) {
  const [users, setUsers] = useState<UserItem[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [search, setSearch] = useState('');
  const [dialog, setDialog] = useState<Dialog>(null);
  const [usage, setUsage] = useState<ReadonlyMap<string, UsageBody | null>>(new Map());
  const wanted = useRef<Set<string>>(new Set());
  const timer = useRef<number | null>(null);

  const load = async (): Promise<void> => {
    try {
      const all: UserItem[] = [];
      let cursor: string | null = null;
      do {
        const q: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
        const page: Page<UserItem> = await api.get<Page<UserItem>>(`/users?limit=1000${q}`);
        all.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor !== null);
      setUsers(all);
      setUsage(new Map());
      setError(null);
    } catch (err) {
      setError(err);
    }
  };
  useEffect(() => {
    void load();
  }, [changes]);

  const shown = useMemo(() => {
    if (users === null) return [];
    const q = search.trim().toLowerCase();
    return q === '' ? users : users.filter((u) => u.id.toLowerCase().includes(q));
  }, [users, search]);

  // Usage is read for the rows in view only (one request each, after scrolling settles): never 10,000 at once.
  const onRange = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      const u = shown[i]!;
      if (!usage.has(u.id)) wanted.current.add(u.id);
    }
    if (wanted.current.size === 0 || timer.current !== null) return;
    timer.current = window.setTimeout(() => {
      timer.current = null;
      const ids = [...wanted.current];
      wanted.current.clear();
      void Promise.all(ids.map((id) => api.get<UsageBody>(`/users/${encodeURIComponent(id)}/usage`)
        .then((u) => [id, u] as const, () => [id, null] as const)))
        .then((got) => setUsage((old) => new Map([...old, ...got])));
    }, 150);
  };

  const act = async (fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
      setError(null);
      await load();
    } catch (err) {
      setError(err);
    }
  };
  const issueKey = (id: string) => act(async () => {
    const { body } = await api.call<{ id: string; key: string }>('POST', `/users/${encodeURIComponent(id)}/keys`, {});
    setDialog({ kind: 'key', user: id, key: body.key, id: body.id });
  });
  const toggle = (u: UserItem) => act(() => api.call('PATCH', `/users/${encodeURIComponent(u.id)}`,
    { enabled: u.config.enabled === false }));
  const remove = (u: UserItem) => {
    if (!confirm(t('Delete user {id}?', { id: u.id }))) return;
    void act(() => api.call('DELETE', `/users/${encodeURIComponent(u.id)}`));
  };

  const header = (
    <div class="vrow head">
      <span>{t('User id')}</span><span>{t('Origin')}</span><span>{t('Usage')}</span><span>{t('Rate')}</span>
      <span>{t('Limits')}</span><span>{t('Keys')}</span><span />
    </div>
  );
  const row = (u: UserItem) => {
    const c = u.config;
    const editable = canWrite && u.origin === 'api';
    return (
      <div class={`vrow${c.enabled === false ? ' disabled' : ''}`} data-testid="user-row" data-user={u.id}>
        <span class="mono">{u.id}{c.enabled === false && <em> ({t('disabled')})</em>}</span>
        <span class={`origin ${u.origin}`}>{u.origin}</span>
        <span><UsageBar usage={usage.get(u.id)} quota={c.quota as Record<string, unknown> | null | undefined} /></span>
        <span class="muted">{rateText(c.rate)}</span>
        <span class="muted">{objText(c.limits)}</span>
        <span>{u.issuedKeys.length + (Array.isArray(c.keys) ? c.keys.length : 0)}</span>
        <span class="actions">
          {canWrite && <button data-testid="issue-key" onClick={() => void issueKey(u.id)}>{t('New key')}</button>}
          {editable && (
            <button data-testid="edit-user" onClick={() => setDialog({ kind: 'edit', user: u })}>{t('Edit')}</button>
          )}
          {editable && (
            <button onClick={() => void toggle(u)}>{c.enabled === false ? t('Enable') : t('Disable')}</button>
          )}
          {editable && <button class="danger" onClick={() => remove(u)}>{t('Delete')}</button>}
        </span>
      </div>
    );
  };

  return (
    <div>
      <div class="toolbar">
        <input type="search" placeholder={t('Search')} value={search} data-testid="user-search"
          onInput={(e) => setSearch((e.target as HTMLInputElement).value)} />
        <span class="muted" data-testid="user-count">{t('{n} users', { n: shown.length })}</span>
        {canWrite && (
          <button class="primary" data-testid="new-user" onClick={() => setDialog({ kind: 'create' })}>
            {t('New user')}
          </button>
        )}
      </div>
      <ErrorBox error={error} />
      {users === null ? <p class="muted">{t('Loading…')}</p>
      : shown.length === 0 ? <p class="muted">{t('no users')}</p> : (
        <VirtualList items={shown} rowHeight={ROW} height={Math.max(300, window.innerHeight - 220)} header={header}
          row={row} onRange={onRange} testId="users-table" />
      )}
      {dialog?.kind === 'create' && (
        <UserForm title={t('New user')} onClose={() => setDialog(null)} submit={async (doc) => {
          await api.call('POST', '/users', doc);
          await load();
        }} />
      )}
      {dialog?.kind === 'edit' && (
        <UserForm title={`${t('Edit')} ${dialog.user.id}`} user={dialog.user} onClose={() => setDialog(null)}
          submit={async (doc) => {
            const id = encodeURIComponent(dialog.user.id);
            const { etag } = await api.call('GET', `/users/${id}`);
            const { id: _id, ...patch } = doc;
            await api.call('PATCH', `/users/${id}`, patch, etag === null ? {} : { 'if-match': etag });
            await load();
          }} />
      )}
      {dialog?.kind === 'key' && (
        <KeyShown user={dialog.user} id={dialog.id} secret={dialog.key} onClose={() => setDialog(null)} />
      )}
    </div>
  );
}

function UsageBar({ usage, quota }: {
  usage: UsageBody | null | undefined; quota: Record<string, unknown> | null | undefined;
}) {
  if (quota == null) return <span class="muted">{t('unlimited')}</span>;
  if (usage == null || usage.quota === null) {
    const limit = typeof quota.bytes === 'number' ? bytes(quota.bytes) : String(quota.bytes ?? '');
    return <span class="muted">{limit}</span>;
  }
  const q = usage.quota;
  const share = q.bytes > 0 ? Math.min(1, q.used / q.bytes) : 0;
  return (
    <span class="usage" title={`${bytes(q.used)} / ${bytes(q.bytes)} (${q.period}, ${q.direction})`}>
      <span class={`bar${share >= 0.9 ? ' hot' : ''}`}><i style={{ width: `${(share * 100).toFixed(1)}%` }} /></span>
      <small data-testid="usage-text">{bytes(q.used)} / {bytes(q.bytes)}</small>
    </span>
  );
}

function rateText(rate: unknown): string {
  if (rate == null || typeof rate !== 'object') return '—';
  const r = rate as { inBytesPerSec?: number; outBytesPerSec?: number };
  // 0 is no limit.
  const part = (v: number | undefined): string => (v ? `${bytes(v)}/s` : '∞');
  if (!r.inBytesPerSec && !r.outBytesPerSec) return '—';
  return `↓${part(r.inBytesPerSec)} ↑${part(r.outBytesPerSec)}`;
}

function objText(o: unknown): string {
  if (o == null || typeof o !== 'object') return '—';
  return Object.entries(o as Record<string, unknown>).map(([k, v]) => `${k} ${String(v)}`).join(', ') || '—';
}

/** A size the operator typed: digits are bytes, anything else (10GiB) goes to the API as written. */
function sizeValue(text: string): string | number {
  return /^\d+$/.test(text.trim()) ? Number(text.trim()) : text.trim();
}

function UserForm({ title, user, onClose, submit }: {
  title: string; user?: UserItem; onClose: () => void; submit: (doc: Record<string, unknown>) => Promise<void>;
}) {
  const c = user?.config ?? {};
  const quota = (c.quota ?? null) as Record<string, unknown> | null;
  const rate = (c.rate ?? null) as Record<string, unknown> | null;
  const limits = (c.limits ?? null) as Record<string, unknown> | null;
  const [id, setId] = useState(user?.id ?? '');
  const [qBytes, setQBytes] = useState(quota?.bytes == null ? '' : String(quota.bytes));
  const [period, setPeriod] = useState(String(quota?.period ?? 'monthly'));
  const [direction, setDirection] = useState(String(quota?.direction ?? 'total'));
  // The API shows rates as inBytesPerSec/outBytesPerSec (0: none) and takes them as in/out.
  const [rIn, setRIn] = useState(rate?.inBytesPerSec ? String(rate.inBytesPerSec) : '');
  const [rOut, setROut] = useState(rate?.outBytesPerSec ? String(rate.outBytesPerSec) : '');
  const [lim, setLim] = useState(limits === null ? '' : JSON.stringify(limits));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const onSubmit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    try {
      const doc: Record<string, unknown> = { id };
      doc.quota = qBytes.trim() === '' ? null : { bytes: sizeValue(qBytes), period, direction };
      doc.rate = rIn.trim() === '' && rOut.trim() === '' ? null : {
        ...(rIn.trim() === '' ? {} : { in: sizeValue(rIn) }), ...(rOut.trim() === '' ? {} : { out: sizeValue(rOut) }),
      };
      doc.limits = lim.trim() === '' ? null : JSON.parse(lim);
      // A new user is created without the keys it leaves empty; an edit removes them (merge patch null).
      if (user === undefined) for (const k of Object.keys(doc)) if (doc[k] === null) delete doc[k];
      await submit(doc);
      onClose();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title={title} onClose={onClose}>
      <form class="form" onSubmit={(e) => void onSubmit(e)} data-testid="user-form">
        <label>{t('User id')}<input name="id" required value={id} disabled={user !== undefined}
          onInput={(e) => setId((e.target as HTMLInputElement).value)} /></label>
        <label>{t('Quota (bytes, e.g. 10GiB)')}<input name="quota" value={qBytes}
          onInput={(e) => setQBytes((e.target as HTMLInputElement).value)} /></label>
        <div class="row2">
          <label>{t('Period')}<select name="period" value={period}
            onChange={(e) => setPeriod((e.target as HTMLSelectElement).value)}>
            {['none', 'daily', 'monthly'].map((p) => <option value={p}>{p}</option>)}</select></label>
          <label>{t('Direction')}<select name="direction" value={direction}
            onChange={(e) => setDirection((e.target as HTMLSelectElement).value)}>
            {['total', 'in', 'out'].map((p) => <option value={p}>{p}</option>)}</select></label>
        </div>
        <div class="row2">
          <label>{t('Rate in (e.g. 10MiB/s)')}
            <input name="rateIn" value={rIn} onInput={(e) => setRIn((e.target as HTMLInputElement).value)} /></label>
          <label>{t('Rate out (e.g. 10MiB/s)')}
            <input name="rateOut" value={rOut} onInput={(e) => setROut((e.target as HTMLInputElement).value)} /></label>
        </div>
        <label>{t('Limits')} (JSON)<input name="limits" value={lim} placeholder='{"rpm": 60}'
          onInput={(e) => setLim((e.target as HTMLInputElement).value)} /></label>
        <ErrorBox error={error} />
        <footer>
          <button type="button" onClick={onClose}>{t('Cancel')}</button>
          <button type="submit" class="primary" disabled={busy} data-testid="user-submit">
            {user ? t('Save') : t('Create')}
          </button>
        </footer>
      </form>
    </Modal>
  );
}

function KeyShown({ user, id, secret, onClose }: { user: string; id: string; secret: string; onClose: () => void }) {
  const [copied, setCopied] = useState(false);
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(secret);
    } catch {
      // No clipboard (plain http on another host): select the text for a manual copy.
      const el = document.querySelector<HTMLInputElement>('[data-testid="new-key"]');
      el?.select();
    }
    setCopied(true);
  };
  return (
    <Modal title={`${t('New key')}: ${user} / ${id}`} onClose={onClose}>
      <p class="warn">{t('This key is shown once. Copy it now.')}</p>
      <div class="keybox">
        <input readOnly class="mono" value={secret} data-testid="new-key"
          onFocus={(e) => (e.target as HTMLInputElement).select()} />
        <button class="primary" onClick={() => void copy()} data-testid="copy-key">
          {copied ? t('Copied') : t('Copy')}
        </button>
      </div>
      <footer><button onClick={onClose}>{t('Close')}</button></footer>
    </Modal>
  );
}
