import type { Accounting } from '../accounting/accounting.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { Reporter, type ReporterStatus } from '../report/reporter.js';
import type { Db } from '../store/database.js';
import { ReportOutbox } from '../store/report-outbox.js';

/** Pushed reports as `config.report` says: started, retuned or stopped on every start and reload. */
export class ReportControl {
  private readonly db: Db | null;
  private readonly accounting: Accounting;
  private readonly log: Logger;
  private readonly publish: (type: string, data: Record<string, unknown>) => void;
  private reporter: Reporter | null = null;

  constructor(
    db: Db | null, accounting: Accounting, log: Logger, publish: (type: string, data: Record<string, unknown>) => void,
  ) {
    this.db = db;
    this.accounting = accounting;
    this.log = log;
    this.publish = publish;
  }

  apply(config: Config): void {
    if (config.report === null || this.db === null) {
      if (this.reporter !== null) {
        void this.reporter.close();
        this.reporter = null;
        this.accounting.setReportOutbox(null);
      }
      return;
    }
    if (this.reporter !== null) {
      this.reporter.setConfig(config.report);
      return;
    }
    const outbox = new ReportOutbox(this.db);
    this.accounting.setReportOutbox(outbox);
    const { accounting, publish } = this;
    this.reporter = new Reporter(config.report, outbox, this.log, {
      flush: () => accounting.flush(),
      publish,
    });
    this.reporter.start();
  }

  /** `GET /report`: the reporter's state, or null when reports are off. */
  status(): ReporterStatus | null {
    return this.reporter?.status() ?? null;
  }

  /** Sends pending batches now (tests; the reporter also runs on its interval). */
  now(): Promise<void> {
    return this.reporter?.runOnce() ?? Promise.resolve();
  }

  /** No more sends; what is unacknowledged or pending stays in SQLite for the next start. */
  async close(): Promise<void> {
    await this.reporter?.close();
  }
}
