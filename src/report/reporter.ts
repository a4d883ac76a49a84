import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ReportConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { ReportBatch, ReportOutbox } from '../store/report-outbox.js';
import { reportPayload } from './payload.js';

/** Failed sends of one batch after which the receiver counts as down: an error log and a `report` event. */
const ALERT_AFTER_FAILURES = 5;
const SEND_TIMEOUT_MS = 10_000;

export interface ReporterHooks {
  /** Writes counted deltas to the ledger (and so to the outbox) before a batch is cut. */
  flush(): Promise<unknown>;
  publish(type: string, data: Record<string, unknown>): void;
}

export interface ReporterStatus {
  readonly url: string;
  readonly format: string;
  readonly lastAckedSeq: number | null;
  readonly failures: number;
  readonly down: boolean;
  readonly unackedBatches: number;
  readonly pendingSubjects: number;
}

/**
 * Pushes traffic deltas every `interval`: one batch at a time, each with the next sequence number, kept in SQLite
 * until a 2xx acknowledges it and retried with back-off until then. While a batch waits, new deltas coalesce in the
 * outbox (one row per user and service, so the backlog is bounded by the config, not by time) and go in the next
 * batch. The receiver's totals equal the ledger's; a receiver that dedupes by sequence never double-counts.
 */
export class Reporter {
  private config: ReportConfig;
  private readonly outbox: ReportOutbox;
  private readonly log: Logger;
  private readonly hooks: ReporterHooks;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private failures = 0;
  private lastAckedSeq: number | null = null;
  private closed = false;

  constructor(config: ReportConfig, outbox: ReportOutbox, log: Logger, hooks: ReporterHooks) {
    this.config = config;
    this.outbox = outbox;
    this.log = log;
    this.hooks = hooks;
  }

  start(): void {
    this.schedule(this.config.intervalMs);
  }

  setConfig(next: ReportConfig): void {
    this.config = next;
  }

  status(): ReporterStatus {
    const s = this.outbox.stats();
    return {
      url: this.config.url.origin + this.config.url.pathname,
      format: this.config.format,
      lastAckedSeq: this.lastAckedSeq,
      failures: this.failures,
      down: this.failures >= ALERT_AFTER_FAILURES,
      unackedBatches: s.batches,
      pendingSubjects: s.pendingSubjects,
    };
  }

  /** One round now (tests, shutdown): cut what is pending and send what is unacknowledged. */
  runOnce(): Promise<void> {
    this.running ??= this.round().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Stops sending; unacknowledged batches and pending deltas stay in SQLite for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.runOnce().then(
        () => this.schedule(this.failures === 0 ? this.config.intervalMs : this.retryDelay()),
        () => this.schedule(this.retryDelay()),
      );
    }, ms);
    this.timer.unref();
  }

  private retryDelay(): number {
    return Math.min(this.config.maxRetryDelayMs, this.config.intervalMs * 2 ** Math.min(this.failures, 16));
  }

  private async round(): Promise<void> {
    await this.hooks.flush();
    // An unacknowledged batch goes first, unchanged (same sequence); new deltas wait in the outbox meanwhile.
    let batch = this.outbox.oldest();
    if (batch === null) batch = this.outbox.cut(Date.now());
    while (batch !== null && !this.closed) {
      if (!(await this.send(batch))) return;
      this.outbox.ack(batch.seq);
      this.lastAckedSeq = batch.seq;
      batch = this.outbox.oldest();
    }
  }

  private async send(batch: ReportBatch): Promise<boolean> {
    const { config } = this;
    const body = JSON.stringify(reportPayload(batch, config.format));
    let status = 0;
    let error: string | null = null;
    try {
      status = await post(config.url, body, batch.seq, config.token);
    } catch (err) {
      error = (err as Error).message;
    }
    if (status >= 200 && status < 300) {
      if (this.failures >= ALERT_AFTER_FAILURES) {
        this.log.info({ seq: batch.seq, afterFailures: this.failures }, 'report receiver is back');
        this.hooks.publish('report', { state: 'up', seq: batch.seq });
      }
      this.failures = 0;
      return true;
    }
    this.failures++;
    const url = config.url.origin + config.url.pathname;
    const detail = { seq: batch.seq, status, error, failures: this.failures, url };
    if (this.failures === ALERT_AFTER_FAILURES) {
      this.log.error(detail, 'report receiver is down; deltas are kept and coalesced until it answers');
      this.hooks.publish('report', { state: 'down', ...detail });
    } else {
      this.log.warn(detail, 'report not acknowledged; retrying with back-off');
    }
    return false;
  }
}

function post(url: URL, body: string, seq: number, token: string | null): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-tidegate-seq': seq,
    };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, { method: 'POST', headers, timeout: SEND_TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${SEND_TIMEOUT_MS / 1000}s`)));
    req.on('error', reject);
    req.end(body);
  });
}
