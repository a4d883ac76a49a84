import type { Logger } from '../../log.js';
import type { Channel } from './channel.js';
import { fetchModels } from './models-fetch.js';

interface Refresh {
  readonly timer: NodeJS.Timeout;
  readonly everyMs: number;
}

/**
 * Reads the model lists of the channels with `modelsRefresh` at start and on their interval, off the request path
 * (a timer per such channel, unref'd). The list lands in the channel's ModelCatalog (its globs filter it when
 * listed); a failed read keeps the last list, logs a warning and shows in the channel's status.
 */
export class ModelsRefresher {
  private readonly log: Logger;
  private readonly service: string;
  private readonly refreshes = new Map<Channel, Refresh>();
  private stopped = false;

  constructor(service: string, log: Logger) {
    this.service = service;
    this.log = log;
  }

  /** Starts, keeps or stops each channel's refresh to match the channels in force. */
  sync(channels: Iterable<Channel>): void {
    if (this.stopped) return;
    const keep = new Set<Channel>();
    for (const c of channels) {
      const everyMs = c.config.modelsRefreshMs;
      if (everyMs <= 0) continue;
      keep.add(c);
      const current = this.refreshes.get(c);
      if (current !== undefined && current.everyMs === everyMs) continue;
      if (current !== undefined) clearInterval(current.timer);
      const timer = setInterval(refreshTick, everyMs, this, c);
      timer.unref();
      this.refreshes.set(c, { timer, everyMs });
      void this.refresh(c);
    }
    for (const [c, r] of this.refreshes) {
      if (keep.has(c)) continue;
      clearInterval(r.timer);
      this.refreshes.delete(c);
    }
  }

  /** One read of a channel's list (skipped while the previous one is still under way). */
  async refresh(channel: Channel): Promise<void> {
    const catalog = channel.catalog;
    if (catalog.reading) return;
    catalog.reading = true;
    try {
      catalog.replace(await fetchModels(channel, Date.now()), Date.now());
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      catalog.failed(reason, Date.now());
      this.log.warn(
        { service: this.service, channel: channel.name, err: reason },
        'gateway channel: reading the upstream model list failed; the last list stays',
      );
    } finally {
      catalog.reading = false;
    }
  }

  stop(): void {
    this.stopped = true;
    for (const r of this.refreshes.values()) clearInterval(r.timer);
    this.refreshes.clear();
  }
}

function refreshTick(refresher: ModelsRefresher, channel: Channel): void {
  void refresher.refresh(channel);
}
