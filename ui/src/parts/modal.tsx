import type { ComponentChildren } from 'preact';
import { t } from '../i18n.js';

export function Modal({ title, onClose, children }: {
  title: string; onClose: () => void; children: ComponentChildren;
}) {
  return (
    <div class="backdrop" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <div class="modal" role="dialog" aria-label={title}>
        <header><h3>{title}</h3><button class="ghost" onClick={onClose} aria-label={t('Close')}>✕</button></header>
        {children}
      </div>
    </div>
  );
}

/** An API error, with every issue and its path when the API gave them. */
export function ErrorBox({ error }: { error: unknown }) {
  if (error == null) return null;
  const e = error as { message?: string; code?: string; issues?: readonly { path: string; message: string }[] };
  return (
    <div class="error" role="alert">
      <div>{e.code ? `${e.code}: ` : ''}{e.message ?? String(error)}</div>
      {e.issues && e.issues.length > 0 && (
        <table class="issues">
          <thead><tr><th>{t('Path')}</th><th>{t('Message')}</th></tr></thead>
          <tbody>{e.issues.map((i) => <tr><td class="path">{i.path || '(root)'}</td><td>{i.message}</td></tr>)}</tbody>
        </table>
      )}
    </div>
  );
}
