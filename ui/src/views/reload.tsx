import { useState } from 'preact/hooks';
import type { Api } from '../api.js';
import { t } from '../i18n.js';
import { ErrorBox } from '../parts/modal.js';

export function Reload({ api, canWrite }: { api: Api; canWrite: boolean }) {
  const [result, setResult] = useState<Record<string, unknown> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const reload = async (): Promise<void> => {
    setBusy(true);
    setResult(null);
    setError(null);
    try {
      setResult((await api.call<Record<string, unknown>>('POST', '/reload')).body);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div>
      <p>{t('Re-read the config file (plus the API overlay) and apply it.')}</p>
      {canWrite && (
        <button class="primary" disabled={busy} onClick={() => void reload()} data-testid="reload-now">
          {t('Reload now')}
        </button>
      )}
      <div data-testid="reload-result">
        {error !== null && <>
          <p class="bad">{t('The config is invalid; nothing changed.')}</p>
          <ErrorBox error={error} />
        </>}
        {result !== null && <>
          <p class={result.ok === false ? 'bad' : 'good'}>{result.ok === false ? t('Errors') : t('Applied')}</p>
          <dl class="diff" data-testid="reload-diff">
            {(['added', 'changed', 'removed', 'unchanged', 'refreshed'] as const).map((k) => {
              const list = (result[k] ?? []) as readonly string[];
              const title = t(k[0]!.toUpperCase() + k.slice(1));
              return <><dt>{title}</dt><dd class="mono">{list.length ? list.join(', ') : '—'}</dd></>;
            })}
          </dl>
          {((result.failed ?? []) as readonly { service: string; address: string; message: string }[]).length > 0 && (
            <table class="issues"><tbody>
              {(result.failed as readonly { service: string; address: string; message: string }[]).map((f) => (
                <tr><td class="path">{f.service} ({f.address})</td><td>{f.message}</td></tr>
              ))}
            </tbody></table>
          )}
        </>}
      </div>
    </div>
  );
}
