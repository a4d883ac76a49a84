import type { RequestLogRow } from '../contracts/records.js';
import type { RequestLogColumns, UsageLogStats } from '../contracts/usage-log.js';
import type { RuntimeUsageLog } from '../runtime/runtime.js';
import type { WorkerLink } from './worker-link.js';

/**
 * A worker's request log: rows ride in the delta batches to the primary, whose one writer puts them in SQLite
 * (one writer per file: SQLite serializes writers anyway, and N of them would wait on each other's locks).
 */
export class WorkerUsageLog implements RuntimeUsageLog {
  private readonly link: WorkerLink;

  constructor(link: WorkerLink) {
    this.link = link;
  }

  push(row: RequestLogRow): void {
    this.link.pushLog(row);
  }

  pushColumns(rows: RequestLogColumns): void {
    this.link.pushLogColumns(rows);
  }

  stats(): UsageLogStats {
    return this.link.logStats();
  }

  flush(): Promise<void> {
    return this.link.sync();
  }

  /** The last rows go with the link's final batch (accounting closes it first). */
  close(): Promise<void> {
    return this.link.sync();
  }
}
