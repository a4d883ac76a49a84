import type { FleetHost } from '../runtime/fleet.js';
import type { RequestLogColumns } from '../contracts/usage-log.js';
import { SPENT_FIELDS, type DeltaRow, type LimitArgs, type UsageRow } from './messages.js';

/** How long after the first usage that moved the primary tells every worker the usage of the users it moved. */
export const USAGE_BROADCAST_MS = 100;
/** With Redis, every this often a slice of all quota users goes out too (usage other instances moved). */
const SWEEP_MS = 1_000;
const SWEEP_USERS = 1_024;

/**
 * The primary's end of the one ledger: workers' delta batches are counted into the primary's accounting (which
 * owns the ledger, its throttled sync and Redis), request-log rows go to the one writer, and the usage of users whose
 * usage moved goes back to every worker USAGE_BROADCAST_MS after the first of them moved (nothing while none does).
 * Only with Redis, where other instances move usage unseen, a sweep sends a slice of every quota user each second.
 */
export class LedgerHub {
  private readonly host: FleetHost;
  private readonly broadcast: (usage: UsageRow[]) => void;
  private readonly changed = new Set<string>();
  /** Live relays per user, per worker (from each batch's `live` pairs). */
  private readonly live = new Map<object, Map<string, number>>();
  /** The broadcast timer: armed by the first user whose usage moved since the last broadcast. */
  private timer: NodeJS.Timeout | null = null;
  private armed = false;
  private readonly sweeper: NodeJS.Timeout | null;
  private sweepCursor = 0;
  /** Delta rows and log rows taken from workers (status). */
  rows = 0;
  logRows = 0;
  batches = 0;

  constructor(host: FleetHost, broadcast: (usage: UsageRow[]) => void) {
    this.host = host;
    this.broadcast = broadcast;
    const hub = this;
    this.sweeper = host.accounting.status().redis.state === 'off' ? null : setInterval(function sweepUsage() {
      hub.sweep();
    }, SWEEP_MS);
    this.sweeper?.unref();
  }

  ingest(member: object, rows: readonly DeltaRow[], log: RequestLogColumns | null, live: LimitArgs): void {
    const accounting = this.host.accounting;
    if (live.length > 0) {
      let counts = this.live.get(member);
      if (counts === undefined) this.live.set(member, counts = new Map());
      for (let i = 0; i < live.length; i += 2) {
        const n = live[i + 1] as number;
        if (n === 0) counts.delete(live[i] as string);
        else counts.set(live[i] as string, n);
      }
    }
    this.batches++;
    for (const row of rows) {
      const user = row[0] === 0;
      if (accounting.ingest(user ? 'user' : 'service', row[1], row[2], row.slice(3) as number[]) && user) {
        this.changed.add(row[1]);
        if (!this.armed) this.arm();
      }
    }
    this.rows += rows.length;
    if (log === null) return;
    this.host.usageLog?.pushColumns(log);
    this.logRows += log.length;
  }

  /** A user's live relays over every worker (as of their last batches). */
  liveOf(id: string): number {
    let n = 0;
    for (const counts of this.live.values()) n += counts.get(id) ?? 0;
    return n;
  }

  /** A worker exited: its relays ended with it. */
  forget(member: object): void {
    this.live.delete(member);
  }

  /** Every quota user's usage (what a starting worker, or a reload, begins from). */
  snapshot(): UsageRow[] {
    return this.usageRows(this.host.accounting.quotaUsers());
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.sweeper !== null) clearInterval(this.sweeper);
  }

  private arm(): void {
    this.armed = true;
    if (this.timer === null) {
      this.timer = setTimeout(broadcastChanged, USAGE_BROADCAST_MS, this);
      this.timer.unref();
    } else {
      this.timer.refresh();
    }
  }

  /** @internal the broadcast timer fired */
  tick(): void {
    this.armed = false;
    const ids = [...this.changed];
    this.changed.clear();
    if (ids.length > 0) this.broadcast(this.usageRows(ids));
  }

  private sweep(): void {
    const all = this.host.accounting.quotaUsers();
    const n = Math.min(SWEEP_USERS, all.length);
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push(all[(this.sweepCursor + i) % all.length]!);
    this.sweepCursor = all.length === 0 ? 0 : (this.sweepCursor + n) % all.length;
    if (ids.length > 0) this.broadcast(this.usageRows(ids));
  }

  private usageRows(ids: readonly string[]): UsageRow[] {
    const rows: UsageRow[] = [];
    for (const id of ids) {
      const usage = this.host.accounting.sharedUsage(id);
      if (usage === null) continue;
      const row: UsageRow = [id, usage.period, usage.usedIn, usage.usedOut];
      for (const field of SPENT_FIELDS) row.push(usage.spent[field]);
      rows.push(row);
    }
    return rows;
  }
}

function broadcastChanged(hub: LedgerHub): void {
  hub.tick();
}
