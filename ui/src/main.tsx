import { render, type ComponentChildren } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { Api, ApiError, savedToken, saveToken, type Role } from './api.js';
import { lang, setLang, t, type Lang } from './i18n.js';
import { Live, useLive } from './live.js';
import { Events } from './views/events.js';
import { Gateway } from './views/gateway.js';
import { Overview } from './views/overview.js';
import { Reload } from './views/reload.js';
import { Services } from './views/services.js';
import { Users } from './views/users.js';
import './style.css';

const VIEWS = ['overview', 'users', 'services', 'gateway', 'events', 'reload'] as const;
type View = (typeof VIEWS)[number];
const TITLES: Record<View, string> = {
  overview: 'Overview', users: 'Users', services: 'Services', gateway: 'Gateway', events: 'Events', reload: 'Reload',
};
type Theme = 'dark' | 'light';

interface Session {
  readonly api: Api;
  readonly role: Role;
  readonly version: string;
}

function viewOf(hash: string): View {
  const v = hash.replace(/^#\/?/, '') as View;
  return VIEWS.includes(v) ? v : 'overview';
}

async function openSession(token: string): Promise<Session> {
  const api = new Api(token);
  const s = await api.get<{ role: Role; version: string }>('/session');
  return { api, role: s.role, version: s.version };
}

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [checking, setChecking] = useState(true);
  const [language, setLanguage] = useState<Lang>(lang());
  const [theme, setTheme] = useState<Theme>((localStorage.getItem('tidegate.theme') as Theme | null)
    ?? (matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark'));
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem('tidegate.theme', theme);
  }, [theme]);
  useEffect(() => {
    // A token kept in this tab, or none at all (an admin API without tokens is open).
    openSession(savedToken()).then(setSession, () => undefined).finally(() => setChecking(false));
  }, []);
  const switchLang = (next: Lang): void => {
    setLang(next);
    setLanguage(next);
  };
  const prefs = (
    <div class="prefs">
      <select aria-label={t('Language')} data-testid="language" value={language}
        onChange={(e) => switchLang((e.target as HTMLSelectElement).value as Lang)}>
        <option value="en">English</option><option value="zh">简体中文</option>
      </select>
      <button class="ghost" data-testid="theme" title={t('Theme')}
        onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}>{theme === 'dark' ? '☀' : '☾'}</button>
    </div>
  );
  // The live data outlives a theme switch (which remounts the charts for their colours).
  const live = useMemo(() => new Live(), [session]);
  if (checking) return <p class="muted center">{t('Loading…')}</p>;
  if (session === null) return <Login prefs={prefs} onSession={setSession} />;
  return (
    <Shell session={session} live={live} prefs={prefs} key={theme} onSignOut={() => {
      saveToken('');
      setSession(null);
    }} />
  );
}

function Login({ prefs, onSession }: { prefs: ComponentChildren; onSession: (s: Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    try {
      const s = await openSession(token.trim());
      saveToken(token.trim());
      onSession(s);
    } catch (err) {
      setError(err instanceof ApiError && (err.status === 401 || err.status === 403) ? t('Wrong token or no access.')
        : String((err as Error).message));
    }
  };
  return (
    <div class="login">
      <form class="card form" onSubmit={(e) => void submit(e)} data-testid="login">
        <h1>tidegate</h1>
        <label>{t('Admin token')}
          <input type="password" name="token" autocomplete="off" autofocus value={token}
            onInput={(e) => setToken((e.target as HTMLInputElement).value)} /></label>
        <small class="muted">
          {t('The admin API token (admin.token or admin.tokens). It stays in this tab only.')}
        </small>
        {error !== null && <div class="error" role="alert" data-testid="login-error">{error}</div>}
        <footer>{prefs}<button type="submit" class="primary">{t('Sign in')}</button></footer>
      </form>
    </div>
  );
}

function Shell({ session, live, prefs, onSignOut }: {
  session: Session; live: Live; prefs: ComponentChildren; onSignOut: () => void;
}) {
  useLive(live);
  const [view, setView] = useState<View>(viewOf(location.hash));
  const [changes, setChanges] = useState(0);
  useEffect(() => {
    live.start(session.api);
    const onHash = (): void => setView(viewOf(location.hash));
    addEventListener('hashchange', onHash);
    return () => {
      live.stop();
      removeEventListener('hashchange', onHash);
    };
  }, [live, session]);
  // Users, keys, services and reloads change the lists: re-read them when the event stream says so.
  const latest = live.events[0];
  useEffect(() => {
    if (latest !== undefined && ['user', 'key', 'service', 'reload'].includes(latest.type)) setChanges((c) => c + 1);
  }, [latest]);
  const canWrite = session.role === 'write';
  const up = live.statsUp && live.eventsUp;
  return (
    <div class="shell">
      <header class="top">
        <b class="logo">tidegate</b>
        <nav>{VIEWS.map((v) => (
          <a href={`#/${v}`} class={v === view ? 'active' : ''} data-testid={`nav-${v}`}>{t(TITLES[v])}</a>
        ))}</nav>
        <span class={`conn ${up ? 'up' : 'down'}`} data-testid="connection">{up ? t('live') : t('reconnecting')}</span>
        {!canWrite && <span class="badge" data-testid="read-only">{t('read only')}</span>}
        {prefs}
        <button class="ghost" onClick={onSignOut} data-testid="sign-out">{t('Sign out')}</button>
      </header>
      <main data-testid={`view-${view}`}>
        <h1>{t(TITLES[view])}</h1>
        {view === 'overview' && <Overview live={live} />}
        {view === 'users' && <Users api={session.api} canWrite={canWrite} changes={changes} />}
        {view === 'services' && <Services api={session.api} live={live} canWrite={canWrite} changes={changes} />}
        {view === 'gateway' && <Gateway api={session.api} live={live} />}
        {view === 'events' && <Events live={live} />}
        {view === 'reload' && <Reload api={session.api} canWrite={canWrite} />}
      </main>
      <footer class="muted foot">tidegate {session.version}</footer>
    </div>
  );
}

setLang(lang());
render(<App />, document.getElementById('app')!);
