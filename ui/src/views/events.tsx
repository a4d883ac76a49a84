import { useState } from 'preact/hooks';
import { t } from '../i18n.js';
import { useLive, type Live } from '../live.js';
import type { LiveEvent } from '../types.js';

export function Events({ live }: { live: Live }) {
  useLive(live);
  const [paused, setPaused] = useState<readonly LiveEvent[] | null>(null);
  const [cleared, setCleared] = useState(0);
  const shown = (paused ?? live.events).filter((e) => Date.parse(e.at) >= cleared);
  return (
    <div>
      <div class="toolbar">
        <span class={`conn ${live.eventsUp ? 'up' : 'down'}`}>{live.eventsUp ? t('live') : t('reconnecting')}</span>
        <button onClick={() => setPaused(paused === null ? [...live.events] : null)}>
          {paused === null ? t('Pause') : t('Resume')}
        </button>
        <button onClick={() => setCleared(Date.now())}>{t('Clear')}</button>
      </div>
      {shown.length === 0 && <p class="muted">{t('no events yet')}</p>}
      <ol class="feed" data-testid="event-feed">
        {shown.map((e) => {
          const { type, at, ...rest } = e;
          return (
            <li data-testid="event" data-type={type}>
              <time>{new Date(at).toLocaleTimeString()}</time>
              <span class={`badge ev-${type}`}>{type}</span>
              <code>{JSON.stringify(rest)}</code>
            </li>
          );
        })}
      </ol>
    </div>
  );
}
